/*
 * render.h: how quantctl shows things to people: sizes, durations and counts in short human
 * units, any JSON scalar as text, aligned tables, a progress bar, and the text plot of accuracy
 * against memory that `quantctl pareto` draws.
 * Ownership: the render_* formatters write into the caller's buffer and return it. A
 * render_table owns copies of its cells; render_table_free releases them and is a no-op on a
 * zeroed table. Tables are capped at RENDER_MAX_ROWS rows (further rows are counted, not kept).
 */
#ifndef QC_RENDER_H
#define QC_RENDER_H

#include <jansson.h>
#include <stdio.h>

#define RENDER_MAX_COLS 16
#define RENDER_MAX_ROWS 100000

char *render_bytes(char *buf, size_t cap, double bytes);     /* "812 B", "12.4 KiB" */
char *render_duration(char *buf, size_t cap, double secs);   /* "45s", "3m05s", "2h10m" */
char *render_count(char *buf, size_t cap, double n);         /* "950", "1.23M", "4.5G" */
char *render_scalar(char *buf, size_t cap, const json_t *v); /* strings bare, null/missing "-" */
/* a time as "2025-11-24 20:31:05" (local): Unix milliseconds or seconds, or a string as given */
char *render_time(char *buf, size_t cap, const json_t *v);
char *render_bar(char *buf, size_t cap, double fraction, int width); /* "[#####.....]" */

/* JSON number (integer or real) as double; def when v is not a number. */
double render_number(const json_t *v, double def);

typedef struct render_table {
    int ncols, nrows, dropped;
    char **cells; /* nrows+1 rows (the header first) of ncols cells */
} render_table;

int render_table_init(render_table *t, int ncols, const char *const *headers);
/* Adds a row of ncols cells (NULL cells print as "-"); 0, or -1 when out of memory. */
int render_table_add(render_table *t, const char *const *cells);
void render_table_print(const render_table *t, FILE *f);
void render_table_free(render_table *t);

/* An array of objects as a table: columns are the scalar fields of the first object (up to
 * RENDER_MAX_COLS), or the given NULL-terminated list. Nested values print as compact JSON. */
void render_json_table(FILE *f, const json_t *items, const char *const *cols);

typedef struct render_point {
    double memory;   /* bytes, > 0 */
    double accuracy; /* fraction */
    int front;       /* on the Pareto front */
} render_point;

/* Accuracy (rows) against memory (columns, log scale when it spans more than 20x): '*' a point
 * on the front, '.' another point. */
void render_plot(FILE *f, const render_point *p, int n, int width, int height);

#endif
