/* numabench: small JSON helpers shared by every file that writes JSON (the
 * reporters, the option table, the audits). Not installed. */
#ifndef NB_JSON_H
#define NB_JSON_H

#include <stdio.h>

#include <jansson.h>

#include <numabench/error.h>

/* A JSON array of ints; NULL on OOM. */
json_t *nb__json_ints(const int *v, int n);

/* A JSON string of text that came from outside (paths, names from files):
 * bytes that are not UTF-8 become '?', so the document stays valid. */
json_t *nb__json_text(const char *text);

/* v as a JSON integer, or null when v is negative (the model's "unknown"
 * for nodes, packages and ordinals). */
json_t *nb__json_int_or_null(int v);

/* v as a JSON real, or null when it is not finite (JSON has no NaN or
 * infinity). */
json_t *nb__json_num(double v);

/* Write a JSON document and a newline to out. Returns 0 or NB_EIO/NB_ENOMEM. */
int nb__json_write(json_t *doc, FILE *out, const char *what, nb_error_t *err);
/* The same, then release doc (it steals the reference, as jansson's *_new
 * calls do): for a document built only to be written. */
int nb__json_write_new(json_t *doc, FILE *out, const char *what, nb_error_t *err);

#endif
