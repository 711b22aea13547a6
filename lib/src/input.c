/* numabench: opening and reading the files a user names (see input.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "nb-internal.h"

/* What a file that is not a regular file is, for the message. */
static const char *kind_of(mode_t m)
{
  return S_ISDIR(m)    ? "a directory"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
         : S_ISFIFO(m) ? "a pipe or FIFO"
         : S_ISSOCK(m) ? "a socket"
         : S_ISREG(m)  ? "a file"
                       : "not a plain file";
}

/* The errno of a failed open or stat as an NB code: a missing file or one
 * this user may not read is the user's to fix (exit 2); the rest is the
 * system's. */
static int code_of(int e)
{
  return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP ? NB_ENOENT
         : e == EACCES || e == EPERM                                    ? NB_EINVAL
                                                                        : NB_EIO;
}

static int usable(mode_t m, unsigned flags)
{
  return S_ISREG(m) || ((flags & NB_INPUT_PIPE) && S_ISFIFO(m));
}

int nb__input_open(const char *what, const char *path, unsigned flags, struct stat *st, nb_error_t *err)
{
  const char *sep = what ? " " : "";
  what = what ? what : "";
  /* stat first: a device is never opened (opening one can have effects). */
  if (stat(path, st) < 0)
    return nb__err_sys(err, code_of(errno), errno, "%s%s%s: cannot open", what, sep, path);
  if (!usable(st->st_mode, flags))
    return nb__err(err, NB_EINVAL, "%s%s%s: %s, not a regular file", what, sep, path, kind_of(st->st_mode));
  /* O_NONBLOCK: a FIFO put there after the stat, or one allowed with
   * NB_INPUT_PIPE, must not block open() waiting for a writer. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return nb__err_sys(err, code_of(errno), errno, "%s%s%s: cannot open", what, sep, path);
  if (fstat(fd, st) < 0 || !usable(st->st_mode, flags)) {
    int e = errno;
    close(fd);
    return usable(st->st_mode, flags) ? nb__err_sys(err, NB_EIO, e, "%s%s%s: cannot read", what, sep, path)
                                      : nb__err(err, NB_EINVAL, "%s%s%s: %s, not a regular file", what, sep,
                                                path, kind_of(st->st_mode));
  }
  /* Reads may block again: a pipe's writer is there (or gone: end of file). */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return nb__err_sys(err, NB_EIO, e, "%s%s%s: cannot read", what, sep, path);
  }
  return fd;
}

int nb__input_append(int fd, char **buf, size_t *len, size_t *cap, size_t limit, int drop)
{
  char tmp[65536];
  ssize_t r = read(fd, tmp, sizeof tmp);
  if (r < 0)
    return errno == EINTR || errno == EAGAIN ? 1 : -errno;
  if (r == 0)
    return 0;
  if (*len + (size_t)r + 1 > *cap) {
    if (*len + (size_t)r + 1 > limit) {
      if (!drop)
        return -EFBIG;
      /* Keep what fits, drop the rest for good. */
      r = (ssize_t)(limit - 1 > *len ? limit - 1 - *len : 0);
      if (r == 0)
        return 1;
    }
    size_t ncap = *cap ? *cap : 1 << 16;
    while (ncap < *len + (size_t)r + 1)
      ncap *= 2;
    char *nb = realloc(*buf, ncap);
    if (!nb)
      return -ENOMEM;
    *buf = nb;
    *cap = ncap;
  }
  memcpy(*buf + *len, tmp, (size_t)r);
  *len += (size_t)r;
  (*buf)[*len] = '\0';
  return 1;
}

int nb__input_read(const char *what, const char *path, unsigned flags, size_t max, char **data, size_t *len,
                   nb_error_t *err)
{
  const char *sep = what ? " " : "";
  struct stat st;
  *data = NULL;
  *len = 0;
  int fd = nb__input_open(what, path, flags, &st, err);
  if (fd < 0)
    return fd;
  what = what ? what : "";
  /* The size is only a hint (/proc files say 0, a file may grow): the read
   * loop enforces the cap, this only refuses early. */
  if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size >= max) {
    close(fd);
    return nb__err(err, NB_EFORMAT, "%s%s%s: larger than %zu KiB; not a numabench input", what, sep, path,
                   max >> 10);
  }
  char *buf = NULL;
  size_t cap = 0;
  int r;
  while ((r = nb__input_append(fd, &buf, len, &cap, max, 0)) > 0)
    ;
  close(fd);
  if (r < 0) {
    free(buf);
    *len = 0;
    if (r == -EFBIG)
      return nb__err(err, NB_EFORMAT, "%s%s%s: larger than %zu KiB; not a numabench input", what, sep, path,
                     max >> 10);
    if (r == -ENOMEM)
      return nb__err(err, NB_ENOMEM, "%s%s%s: out of memory", what, sep, path);
    /* EISDIR and the like cannot happen here; EIO is the disk's. */
    return nb__err_sys(err, NB_EIO, -r, "%s%s%s: cannot read", what, sep, path);
  }
  if (!buf && !(buf = calloc(1, 1)))
    return nb__err(err, NB_ENOMEM, "%s%s%s: out of memory", what, sep, path);
  *data = buf;
  return 0;
}

int nb__input_line_of(const char *text, size_t off)
{
  int line = 1;
  for (size_t i = 0; i < off; i++)
    line += text[i] == '\n';
  return line;
}

/* mkdir -p: every missing component of dir, as the umask allows. */
static int make_dirs(const char *dir)
{
  char path[NB_OUTPUT_DIR_MAX + 1];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p)
      continue;
    char c = *p;
    *p = '\0';
    if (mkdir(path, 0777) < 0 && errno != EEXIST)
      return -1;
    *p = c;
    if (!c)
      return 0;
  }
}

int nb__output_dir(const char *what, const char *dir, nb_error_t *err)
{
  const char *fix = "give a directory for the result files, or --no-save";
  struct stat st;
  if (!*dir)
    return nb__err(err, NB_EINVAL, "%s: empty; %s", what, fix);
  if (strlen(dir) > NB_OUTPUT_DIR_MAX)
    return nb__err(err, NB_EINVAL, "%s: a name of %zu characters is too long (at most %d); %s", what,
                   strlen(dir), NB_OUTPUT_DIR_MAX, fix);
  if (stat(dir, &st) < 0 && (errno != ENOENT || make_dirs(dir) < 0 || stat(dir, &st) < 0))
    return nb__err_sys(err, errno == EIO ? NB_EIO : NB_EINVAL, errno, "%s %s: cannot create it (%s)", what,
                       dir, fix);
  if (!S_ISDIR(st.st_mode))
    return nb__err(err, NB_EINVAL, "%s %s: %s, not a directory; %s", what, dir, kind_of(st.st_mode), fix);
  /* access() would answer for the real user and not see a read-only file
   * system or /proc: create a file the way the results will be. */
  char probe[NB_OUTPUT_DIR_MAX + 32];
  snprintf(probe, sizeof probe, "%s/.numabench-probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0)
    return nb__err_sys(err, errno == EIO ? NB_EIO : NB_EINVAL, errno, "%s %s: cannot create files in it (%s)",
                       what, dir, fix);
  close(fd);
  unlink(probe);
  return 0;
}
