/*
 * qdfault.c: a fault injector the reliability suites preload into quantd (LD_PRELOAD, built as
 * libqdfault.so). Nothing happens unless its environment variables are set, so the daemon it is
 * loaded into behaves as usual otherwise.
 *
 *   QD_FAULT_CRASH=TEXT   opening a file whose path holds TEXT kills the process with SIGSEGV,
 *                         as an input that crashes the code reading it would (the suites put
 *                         TEXT in the path of a data set, so the job that reads it is the one
 *                         that "crashes" the daemon). Core dumps are turned off first.
 *   QD_FAULT_ENOSPC=DIR   while the file named by QD_FAULT_ENOSPC_FLAG exists, writes to files
 *   QD_FAULT_ENOSPC_FLAG  under DIR fail with ENOSPC, as on a full disk: the stand-in for a full
 *                         tmpfs where mounting one is not permitted.
 *
 * Calls are passed on to the C library's own functions (dlsym RTLD_NEXT). Writes that the C
 * library makes inside itself (fwrite's buffers) are not seen; SQLite and the checkpoint
 * writer call write/pwrite themselves.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* ---- crash on reading a poisoned path ---- */

static void maybe_crash(const char *path)
{
    const char *text = getenv("QD_FAULT_CRASH");
    if (!text || !*text || !path || !strstr(path, text))
        return;
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    maybe_crash(path);
    return REAL(open)(path, flags, m);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    maybe_crash(path);
    return REAL(open64)(path, flags, m);
}

int openat(int dir, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    maybe_crash(path);
    return REAL(openat)(dir, path, flags, m);
}

FILE *fopen(const char *path, const char *mode)
{
    maybe_crash(path);
    return REAL(fopen)(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    maybe_crash(path);
    return REAL(fopen64)(path, mode);
}

/* ---- a full disk ---- */

/* Whether writes to fd are to fail now. */
static int disk_full(int fd)
{
    const char *dir = getenv("QD_FAULT_ENOSPC"), *flag = getenv("QD_FAULT_ENOSPC_FLAG");
    struct stat st;
    if (!dir || !flag || stat(flag, &st) != 0)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    return strncmp(path, dir, strlen(dir)) == 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (n > 0 && disk_full(fd))
        return errno = ENOSPC, -1;
    return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (n > 0 && disk_full(fd))
        return errno = ENOSPC, -1;
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    if (n > 0 && disk_full(fd))
        return errno = ENOSPC, -1;
    return REAL(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (cnt > 0 && disk_full(fd))
        return errno = ENOSPC, -1;
    return REAL(writev)(fd, iov, cnt);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (disk_full(fd))
        return errno = ENOSPC, -1;
    return REAL(fallocate)(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    if (disk_full(fd))
        return ENOSPC;
    return REAL(posix_fallocate)(fd, off, len);
}
