/* search/generations.cc: where the live index is in its directory, and how a rebuild
 * replaces it without readers ever seeing an empty or half-built index.
 *
 * Layout of the index directory DIR (kb.db.index):
 *   DIR/current   "g<N>\n": the live generation is DIR/g<N> (its shards, index.hh, inside).
 *                 Absent: the live index is DIR itself (an index never rebuilt beside
 *                 itself, or written by a kb from before generations).
 *   DIR/g<N>/     generations; only the live one outlives its writer.
 *   DIR/lock      flock()ed by the one writer of the whole directory, whichever generation
 *                 it writes: Xapian's own lock is per database, and a rebuild must also keep
 *                 others from writing the live generation it is about to replace (their
 *                 changes would be lost with it).
 *
 * A rebuild (search_index_open_new, search_index_publish):
 *   1. takes DIR/lock; removes generations other than the live one (a crashed rebuild's);
 *   2. writes every document into DIR/g<N+1>, committing in batches: readers never open it;
 *   3. commits, merges the shards, fsyncs the new directories;
 *   4. writes DIR/current.tmp, fsyncs it, renames it to DIR/current, fsyncs DIR: the switch,
 *      atomic, and durable before anything old is removed;
 *   5. removes the previous generation (or the previous index files in DIR itself).
 * Killed before 4: the live generation is untouched, step 1 of the next writer removes the
 * partial one. Killed after 4: the new generation is complete; 5 is done by the next writer.
 *
 * Readers resolve DIR/current when they open and at each search_index_reopen (once a second
 * in kb serve); one that still has the previous generation open keeps reading its files
 * (unlinked files stay readable while open) until it reopens. */
#include "search/index.hh"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include "kb/base/log.h"
}

namespace fs = std::filesystem;

static const char CURRENT[] = "current";
static const char LOCK[] = "lock";

/* The number of a generation's name "g<N>" (1 <= N < 10^9), or 0 for any other name. */
static unsigned long generation_number(const std::string &name)
{
    if (name.size() < 2 || name.size() > 10 || name[0] != 'g' || name[1] == '0')
        return 0;
    for (size_t i = 1; i < name.size(); i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return strtoul(name.c_str() + 1, nullptr, 10);
}

std::string search_live_dir(const std::string &root, std::string *gen)
{
    gen->clear();
    int fd = open((root + "/" + CURRENT).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return root;
        throw Xapian::DatabaseOpeningError(root + "/current: " + strerror(errno));
    }
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    std::string name(buf, n > 0 ? (size_t)n : 0);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' '))
        name.pop_back();
    if (generation_number(name) == 0)
        throw Xapian::DatabaseCorruptError(root + "/current names no generation");
    *gen = name;
    return root + "/" + name;
}

int search_dir_lock(const std::string &root)
{
    if (mkdir(root.c_str(), 0755) != 0 && errno != EEXIST)
        throw Xapian::DatabaseCreateError(root + ": " + strerror(errno));
    int fd = open((root + "/" + LOCK).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Xapian::DatabaseOpeningError(root + "/lock: " + strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            throw Xapian::DatabaseLockError(root + ": another kb is writing this index");
        throw Xapian::DatabaseOpeningError(root + "/lock: " + strerror(e));
    }
    return fd;
}

/* The files of an index kept in root itself (index.hh: the first shard's glass files, the
 * other shards' and a merge's directories). */
static bool index_file_in_root(const fs::directory_entry &e)
{
    std::string name = e.path().filename().string();
    if (e.is_directory())
        return name == "merging" ||
               (name.rfind("shard", 0) == 0 && name.size() > 5 &&
                name.find_first_not_of("0123456789", 5) == std::string::npos);
    return name == "iamglass" || name == "flintlock" || e.path().extension() == ".glass";
}

/* Remove what is not the live generation: other generations, and the index files in root
 * itself when a generation is live. Errors are logged only: leftovers cost disk, not
 * correctness, and the next writer tries again. */
static void remove_stale(const std::string &root, const std::string &live)
{
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(root, ec)) {
        std::string name = e.path().filename().string();
        bool stale = e.is_directory() && generation_number(name) != 0 && name != live;
        stale = stale || (!live.empty() && index_file_in_root(e));
        stale = stale || name == std::string(CURRENT) + ".tmp";
        if (!stale)
            continue;
        std::error_code rm;
        fs::remove_all(e.path(), rm);
        if (rm)
            kb_log(KB_LOG_WARN, "search index: cannot remove %s: %s", e.path().c_str(),
                   rm.message().c_str());
    }
}

void search_generations_clean(const std::string &root, const std::string &live)
{
    remove_stale(root, live);
}

std::string search_generation_next(const std::string &root, const std::string &live)
{
    unsigned long n = generation_number(live);
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(root, ec))
        n = std::max(n, generation_number(e.path().filename().string()));
    return "g" + std::to_string(n + 1);
}

static void fsync_path(const std::string &path, bool directory)
{
    int fd = open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        throw Xapian::DatabaseError(path + ": fsync: " + strerror(e));
    }
    close(fd);
}

void search_generation_switch(const std::string &root, const std::string &gen,
                              size_t nshards)
{
    /* The new generation's directory entries are on disk before current names it (Xapian
     * syncs the files it commits). */
    std::string dir = root + "/" + gen;
    for (size_t k = 1; k < nshards; k++)
        fsync_path(search_shard_dir(dir, k), true);
    fsync_path(dir, true);
    std::string tmp = root + "/" + CURRENT + ".tmp", line = gen + "\n";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw Xapian::DatabaseError(tmp + ": " + strerror(errno));
    bool ok = write(fd, line.data(), line.size()) == (ssize_t)line.size() && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp.c_str(), (root + "/" + CURRENT).c_str()) != 0) {
        e = ok ? errno : e;
        unlink(tmp.c_str());
        throw Xapian::DatabaseError(root + "/current: " + strerror(e));
    }
    fsync_path(root, true);
    remove_stale(root, gen);
}
