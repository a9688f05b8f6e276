// The agent's disk spool: ingest batches waiting for the collector's acknowledgement, one file
// per batch in a directory, so that nothing polled is lost while the collector is down or the
// agent restarts. A batch is written to a temporary name, fsync'd and renamed (then the
// directory fsync'd), so after a crash it is either wholly in the spool or absent.
//
// Layout of the directory:
//   00000000000000000042-500.json  a batch: its batch_seq (zero-padded, so names sort) and its
//                                  sample count; the content is the ingest body as sent
//   next_seq                       the next batch_seq to hand out, written before it is used
//   lock                           held (flock) while a Spool has the directory open
//   rejected/                      batches the collector refused for good, kept for the operator
//   *.tmp                          a write that did not finish; removed on open
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::agent {

struct SpoolLimits {
    std::uint64_t max_bytes = std::uint64_t{256} << 20;
    std::size_t max_batches = 100000;
};

struct SpoolDepth {
    std::size_t batches = 0;
    std::uint64_t bytes = 0;
    std::uint64_t samples = 0;
};

struct SpooledBatch {
    std::int64_t seq = 0;
    std::size_t samples = 0;
    std::string body;
};

// Synchronous file I/O (batches are rare: one every few seconds). Every method is safe to call
// from any thread. I/O failures throw std::system_error naming the file.
class Spool {
  public:
    // Opens `dir` (created with rejected/ if missing), removes unfinished *.tmp writes and
    // indexes the batches present. The next batch_seq is the largest of: the persisted
    // next_seq, one past every batch in the spool or in rejected/ and, for a spool that has
    // neither, the current time in microseconds, so that even a wiped spool does not reuse a
    // seq the collector has already acknowledged. Two agents must not share a spool (they
    // would hand out the same seqs): a directory another Spool holds is refused.
    Spool(std::string dir, SpoolLimits limits);
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    // A new batch_seq, never handed out before by this directory: next_seq is durably advanced
    // before the value is returned.
    std::int64_t reserve_seq();

    // Stores a batch durably. When the spool would exceed its limits the oldest batches are
    // dropped (logged and counted) to make room; a batch larger than max_bytes on its own is
    // itself dropped, loudly. Returns how many batches were dropped.
    std::size_t push(std::int64_t seq, std::string_view body, std::size_t samples);

    // The oldest batch, read from its file; nullopt when the spool is empty. A file removed
    // behind the spool's back is forgotten (logged) and the next one read.
    std::optional<SpooledBatch> oldest();
    // Deletes a delivered batch. A seq no longer present (dropped meanwhile) is ignored.
    void remove(std::int64_t seq);
    // Moves a batch the collector will never accept to rejected/. Absent seq: ignored.
    void reject(std::int64_t seq);

    SpoolDepth depth() const;
    std::uint64_t dropped_batches() const;
    std::uint64_t dropped_samples() const;
    std::uint64_t rejected_batches() const;  // since open
    const std::string& dir() const noexcept { return dir_; }
    std::string rejected_dir() const { return dir_ + "/rejected"; }

    // "00000000000000000042-500.json"
    static std::string file_name(std::int64_t seq, std::size_t samples);

  private:
    struct Entry {
        std::uint64_t bytes = 0;
        std::size_t samples = 0;
    };
    void load();  // indexes the directory and works out next_seq
    void persist_next_seq(std::int64_t next);
    void drop_oldest_locked();
    void erase_locked(std::map<std::int64_t, Entry>::iterator it);

    std::string dir_;
    SpoolLimits limits_;
    int lock_fd_ = -1;
    mutable std::mutex mutex_;
    std::map<std::int64_t, Entry> batches_;
    std::int64_t next_seq_ = 1;
    SpoolDepth depth_;
    std::uint64_t dropped_batches_ = 0;
    std::uint64_t dropped_samples_ = 0;
    std::uint64_t rejected_batches_ = 0;
};

}  // namespace hashwatt::agent
