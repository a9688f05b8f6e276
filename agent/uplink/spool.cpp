#include "agent/uplink/spool.hpp"

#include "common/log.hpp"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace hashwatt::agent {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kNextSeqFile = "next_seq";
constexpr std::string_view kBatchSuffix = ".json";
constexpr std::string_view kTempSuffix = ".tmp";

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
    throw std::system_error(errno, std::generic_category(), what + " '" + path + "'");
}

void fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open spool directory", dir);
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) throw_errno("cannot fsync spool directory", dir);
}

// Writes `content` to dir/name through dir/name.tmp: the file appears whole or not at all.
void write_durably(const std::string& dir, const std::string& name, std::string_view content) {
    const std::string path = dir + "/" + name;
    const std::string tmp = path + std::string(kTempSuffix);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw_errno("cannot create spool file", tmp);
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int saved = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            errno = saved;
            throw_errno("cannot write spool file", tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        errno = saved;
        throw_errno("cannot fsync spool file", tmp);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        throw_errno("cannot rename spool file to", path);
    }
    fsync_dir(dir);
}

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

// "00000000000000000042-500.json" -> {42, 500}
std::optional<std::pair<std::int64_t, std::size_t>> parse_name(std::string_view name) {
    if (!name.ends_with(kBatchSuffix)) return std::nullopt;
    name.remove_suffix(kBatchSuffix.size());
    const auto dash = name.find('-');
    if (dash != 20) return std::nullopt;
    const auto seq = parse_number<std::int64_t>(name.substr(0, dash));
    const auto samples = parse_number<std::size_t>(name.substr(dash + 1));
    if (!seq || !samples || *seq <= 0) return std::nullopt;
    return std::pair{*seq, *samples};
}

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string Spool::file_name(std::int64_t seq, std::size_t samples) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%020lld-%zu", static_cast<long long>(seq), samples);
    return std::string(buf) + std::string(kBatchSuffix);
}

Spool::Spool(std::string dir, SpoolLimits limits) : dir_(std::move(dir)), limits_(limits) {
    std::error_code ec;
    fs::create_directories(rejected_dir(), ec);
    if (ec) {
        throw std::system_error(ec, "cannot create spool directory '" + rejected_dir() + "'");
    }
    const std::string lock_path = dir_ + "/lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) throw_errno("cannot open", lock_path);
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const int saved = errno;
        ::close(lock_fd_);
        if (saved == EWOULDBLOCK) {
            throw std::runtime_error("spool directory '" + dir_ +
                                     "' is in use by another agent (each agent needs its own "
                                     "spool_dir)");
        }
        errno = saved;
        throw_errno("cannot lock", lock_path);
    }
    try {
        load();
    } catch (...) {
        ::close(lock_fd_);
        throw;
    }
}

void Spool::load() {
    std::error_code ec;
    std::int64_t max_seq = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
        const std::string name = e.path().filename().string();
        if (name.ends_with(kTempSuffix)) {
            // A write cut short by a crash: the batch was never acknowledged as spooled.
            log::warn("spool: removing an unfinished write", {{"file", e.path().string()}});
            fs::remove(e.path(), ec);
            continue;
        }
        if (!e.is_regular_file() || name == kNextSeqFile || name == "lock") continue;
        const auto parsed = parse_name(name);
        if (!parsed) {
            log::warn("spool: ignoring a file that is not a batch", {{"file", e.path().string()}});
            continue;
        }
        batches_[parsed->first] = Entry{e.file_size(), parsed->second};
        max_seq = std::max(max_seq, parsed->first);
    }
    for (const auto& e : fs::directory_iterator(rejected_dir())) {
        if (const auto parsed = parse_name(e.path().filename().string())) {
            max_seq = std::max(max_seq, parsed->first);
        }
    }
    for (const auto& [seq, entry] : batches_) {
        ++depth_.batches;
        depth_.bytes += entry.bytes;
        depth_.samples += entry.samples;
    }

    const std::string seq_path = dir_ + "/" + std::string(kNextSeqFile);
    std::optional<std::int64_t> persisted;
    if (std::ifstream in(seq_path); in) {
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        persisted = parse_number<std::int64_t>(text);
        if (!persisted) log::warn("spool: unreadable next_seq, ignored", {{"file", seq_path}});
    }
    if (persisted) {
        next_seq_ = std::max(*persisted, max_seq + 1);
    } else if (max_seq > 0) {
        next_seq_ = max_seq + 1;
    } else {
        next_seq_ = std::max<std::int64_t>(now_us(), 1);
    }
    log::info("spool opened", {{"dir", dir_},
                               {"batches", depth_.batches},
                               {"bytes", depth_.bytes},
                               {"samples", depth_.samples},
                               {"next_seq", next_seq_}});
}

Spool::~Spool() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Spool::persist_next_seq(std::int64_t next) {
    write_durably(dir_, std::string(kNextSeqFile), std::to_string(next) + "\n");
}

std::int64_t Spool::reserve_seq() {
    std::lock_guard lock(mutex_);
    const std::int64_t seq = next_seq_;
    persist_next_seq(seq + 1);
    next_seq_ = seq + 1;
    return seq;
}

void Spool::erase_locked(std::map<std::int64_t, Entry>::iterator it) {
    depth_.batches -= 1;
    depth_.bytes -= it->second.bytes;
    depth_.samples -= it->second.samples;
    batches_.erase(it);
}

void Spool::drop_oldest_locked() {
    auto it = batches_.begin();
    const std::string path = dir_ + "/" + file_name(it->first, it->second.samples);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot delete", path);
    ++dropped_batches_;
    dropped_samples_ += it->second.samples;
    log::warn("spool full: dropped the oldest batch",
              {{"seq", it->first},
               {"samples", it->second.samples},
               {"spool_batches", depth_.batches},
               {"spool_bytes", depth_.bytes},
               {"dropped_batches_total", dropped_batches_}});
    erase_locked(it);
}

std::size_t Spool::push(std::int64_t seq, std::string_view body, std::size_t samples) {
    std::lock_guard lock(mutex_);
    if (body.size() > limits_.max_bytes) {
        ++dropped_batches_;
        dropped_samples_ += samples;
        log::error("spool: batch larger than spool_max_bytes, dropped",
                   {{"seq", seq}, {"samples", samples}, {"bytes", body.size()}});
        return 1;
    }
    if (auto it = batches_.find(seq); it != batches_.end()) erase_locked(it);  // rewritten
    std::size_t dropped = 0;
    while (!batches_.empty() && (batches_.size() + 1 > limits_.max_batches ||
                                 depth_.bytes + body.size() > limits_.max_bytes)) {
        drop_oldest_locked();
        ++dropped;
    }
    write_durably(dir_, file_name(seq, samples), body);
    batches_[seq] = Entry{body.size(), samples};
    ++depth_.batches;
    depth_.bytes += body.size();
    depth_.samples += samples;
    return dropped;
}

std::optional<SpooledBatch> Spool::oldest() {
    std::lock_guard lock(mutex_);
    while (!batches_.empty()) {
        const auto it = batches_.begin();
        const std::string path = dir_ + "/" + file_name(it->first, it->second.samples);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            // Removed by hand: the index follows the directory.
            log::warn("spool: batch file vanished", {{"file", path}});
            erase_locked(it);
            continue;
        }
        SpooledBatch b;
        b.seq = it->first;
        b.samples = it->second.samples;
        b.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return b;
    }
    return std::nullopt;
}

void Spool::remove(std::int64_t seq) {
    std::lock_guard lock(mutex_);
    auto it = batches_.find(seq);
    if (it == batches_.end()) return;
    const std::string path = dir_ + "/" + file_name(seq, it->second.samples);
    // No directory fsync: should the unlink be lost in a crash, the batch is sent again and the
    // collector acknowledges it as a duplicate.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot delete", path);
    erase_locked(it);
}

void Spool::reject(std::int64_t seq) {
    std::lock_guard lock(mutex_);
    auto it = batches_.find(seq);
    if (it == batches_.end()) return;
    const std::string name = file_name(seq, it->second.samples);
    const std::string from = dir_ + "/" + name;
    const std::string to = rejected_dir() + "/" + name;
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
        throw_errno("cannot move to rejected/", from);
    }
    fsync_dir(rejected_dir());
    fsync_dir(dir_);
    ++rejected_batches_;
    erase_locked(it);
}

SpoolDepth Spool::depth() const {
    std::lock_guard lock(mutex_);
    return depth_;
}

std::uint64_t Spool::dropped_batches() const {
    std::lock_guard lock(mutex_);
    return dropped_batches_;
}

std::uint64_t Spool::dropped_samples() const {
    std::lock_guard lock(mutex_);
    return dropped_samples_;
}

std::uint64_t Spool::rejected_batches() const {
    std::lock_guard lock(mutex_);
    return rejected_batches_;
}

}  // namespace hashwatt::agent
