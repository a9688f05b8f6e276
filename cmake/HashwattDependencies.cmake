# Every dependency comes from Debian 12's archive. A missing one fails configure with the
# package to install (`make deps` installs them all).
macro(hashwatt_require found package_name what)
  if(NOT ${found})
    message(FATAL_ERROR "hashwatt needs ${what}: install the Debian package '${package_name}' "
                        "(apt-get install ${package_name}), or run 'make deps'.")
  endif()
endmacro()

find_package(Threads REQUIRED)

find_package(Boost 1.81 QUIET CONFIG COMPONENTS json url)
hashwatt_require(Boost_FOUND "libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev"
                 "Boost 1.81 (Asio, Beast, JSON, URL)")

find_package(SQLite3 QUIET)
hashwatt_require(SQLite3_FOUND libsqlite3-dev "SQLite 3")

find_package(zstd 1.5 QUIET CONFIG)
hashwatt_require(zstd_FOUND libzstd-dev "zstd (the collector's sample compression)")

find_package(OpenSSL 3 QUIET)
hashwatt_require(OPENSSL_FOUND libssl-dev "OpenSSL 3")

find_package(tomlplusplus QUIET CONFIG)
hashwatt_require(tomlplusplus_FOUND libtomlplusplus-dev "toml++ 3")

find_package(prometheus-cpp QUIET CONFIG)
hashwatt_require(prometheus-cpp_FOUND prometheus-cpp-dev "prometheus-cpp")

find_package(CLI11 QUIET CONFIG)
hashwatt_require(CLI11_FOUND libcli11-dev "CLI11")

if(HASHWATT_BUILD_TESTS)
  find_package(doctest QUIET CONFIG)
  hashwatt_require(doctest_FOUND doctest-dev "doctest")
  # Only the compose consistency test reads YAML.
  find_package(yaml-cpp QUIET CONFIG)
  hashwatt_require(yaml-cpp_FOUND libyaml-cpp-dev "yaml-cpp (tests only)")
endif()

# Asio is used with C++20 coroutines and without the deprecated interfaces; Boost.JSON and
# Boost.URL are linked as compiled libraries rather than header-only to keep compile times down.
add_library(hashwatt_boost INTERFACE)
target_link_libraries(hashwatt_boost INTERFACE Boost::headers Boost::json Boost::url Threads::Threads)
target_compile_definitions(hashwatt_boost INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_DISABLE_CONCEPTS)
