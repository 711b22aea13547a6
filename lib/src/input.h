/* numabench: the one way the library reads a file a user named (--config,
 * --topology, report and compare operands). Not installed.
 *
 * A user may name anything: a directory, /dev/zero, a FIFO nobody writes to,
 * a terminal, a huge file. Every such input is opened here: never blocking in
 * open() (O_NONBLOCK), regular files only unless the caller documents a pipe,
 * read with a size cap, and every refusal is one line naming the input. */
#ifndef NB_INPUT_H
#define NB_INPUT_H

#include <stddef.h>
#include <sys/stat.h>

#include <numabench/error.h>

/* Also accept a pipe or FIFO (e.g. `--topology /dev/stdin` fed by a pipe).
 * A FIFO without a writer reads as empty instead of blocking. */
#define NB_INPUT_PIPE 1u

/* Open path for reading: a regular file (or, with NB_INPUT_PIPE, a pipe),
 * checked with stat before the open and fstat after it, so that a device is
 * never opened and a file swapped in between is caught. The descriptor is
 * blocking again once open. what names the input in messages ("--config",
 * "topology"; NULL: the path alone). Returns the descriptor and fills *st.
 * Errors: NB_ENOENT no such file; NB_EINVAL a directory, a device, a socket,
 * a pipe without NB_INPUT_PIPE, permission denied; NB_EIO the system failed. */
int nb__input_open(const char *what, const char *path, unsigned flags, struct stat *st, nb_error_t *err);

/* Read the whole input (nb__input_open's rules) into a NUL-terminated buffer
 * of at most max bytes; *data is the caller's to free. Errors: those of
 * nb__input_open; NB_EFORMAT larger than max; NB_EIO a read failed;
 * NB_ENOMEM. */
int nb__input_read(const char *what, const char *path, unsigned flags, size_t max, char **data, size_t *len,
                   nb_error_t *err);

/* Append what one read() of fd gives to a growing NUL-terminated buffer.
 * Returns 0 at end of file, 1 when more may come (also after EINTR or
 * EAGAIN), or -errno. Past limit: with drop, the rest is discarded (a
 * child's chatter); without, -EFBIG. */
int nb__input_append(int fd, char **buf, size_t *len, size_t *cap, size_t limit, int drop);

/* Line (1-based) of offset off in text. */
int nb__input_line_of(const char *text, size_t off);

/* Longest directory name taken for result files: the file names added to
 * it must still fit the 4096-byte paths they are built in. */
#define NB_OUTPUT_DIR_MAX 3584

/* Make sure dir can receive result files before anything is measured:
 * created with its missing parents, a directory, and a file can be created
 * in it (probed, then removed). what names it in messages ("--output").
 * Errors: NB_EINVAL not a directory, cannot be created, not writable, a
 * name too long; NB_EIO the system failed. */
int nb__output_dir(const char *what, const char *dir, nb_error_t *err);

#endif
