/* numabench: error codes, names and recording. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nb-internal.h"

const char *nb_strerror(int code)
{
  switch (code) {
  case NB_OK:
    return "success";
#define NB__ERR_TEXT(name, value, text)                                                                      \
  case NB_##name:                                                                                            \
    return text;
    NB_ERRNO_MAP(NB__ERR_TEXT)
#undef NB__ERR_TEXT
  }
  return "unknown error";
}

const char *nb_err_name(int code)
{
  switch (code) {
  case NB_OK:
    return "NB_OK";
#define NB__ERR_NAME(name, value, text)                                                                      \
  case NB_##name:                                                                                            \
    return "NB_" #name;
    NB_ERRNO_MAP(NB__ERR_NAME)
#undef NB__ERR_NAME
  }
  return "NB_E?";
}

int nb_err_is_usage(int code)
{
  return code == NB_EINVAL || code == NB_ENOENT || code == NB_EFORMAT;
}

NB__PRINTF(4, 0) static void vrecord(nb_error_t *err, int code, int errnum, const char *fmt, va_list ap)
{
  if (!err)
    return;
  err->code = code;
  err->sys_errno = errnum;
  /* The reason always fits: the message is cut before it, not it. */
  char suffix[128] = "";
  if (errnum)
    snprintf(suffix, sizeof suffix, ": %s", strerror(errnum));
  size_t room = sizeof err->msg - strlen(suffix);
  if (vsnprintf(err->msg, room, fmt, ap) < 0)
    err->msg[0] = '\0';
  strcat(err->msg, suffix);
  /* One line, always: a file name with a newline must not split it. */
  for (char *p = err->msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
}

int nb__err(nb_error_t *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vrecord(err, code, 0, fmt, ap);
  va_end(ap);
  return code;
}

int nb__err_sys(nb_error_t *err, int code, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vrecord(err, code, errnum, fmt, ap);
  va_end(ap);
  return code;
}
