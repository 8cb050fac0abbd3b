/*
 * render.c: quantctl's text output for people: unit formatting, aligned tables (widths fitted
 * to the widest cell of each column), the progress bar and the accuracy-against-memory plot.
 * Nothing here talks to the network; commands.c and watch.c call in with plain values or JSON.
 */
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- units ---- */

char *render_bytes(char *buf, size_t cap, double bytes)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (fabs(bytes) >= 1024.0 && u < 4)
        bytes /= 1024.0, u++;
    if (u == 0)
        snprintf(buf, cap, "%.0f B", bytes);
    else
        snprintf(buf, cap,
                 bytes < 10    ? "%.2f %s"
                 : bytes < 100 ? "%.1f %s"
                               : "%.0f %s",
                 bytes, unit[u]);
    return buf;
}

char *render_duration(char *buf, size_t cap, double secs)
{
    long s = secs < 0 ? 0 : (long)(secs + 0.5);
    if (s < 60)
        snprintf(buf, cap, "%lds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    return buf;
}

char *render_count(char *buf, size_t cap, double n)
{
    static const char *unit[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    while (fabs(n) >= 1000.0 && u < 5)
        n /= 1000.0, u++;
    if (u == 0)
        snprintf(buf, cap, "%.0f", n);
    else
        snprintf(buf, cap, n < 10 ? "%.2f%s" : n < 100 ? "%.1f%s" : "%.0f%s", n, unit[u]);
    return buf;
}

double render_number(const json_t *v, double def)
{
    return json_is_number(v) ? json_number_value(v) : def;
}

char *render_scalar(char *buf, size_t cap, const json_t *v)
{
    if (!v || json_is_null(v))
        snprintf(buf, cap, "-");
    else if (json_is_string(v))
        snprintf(buf, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, fabs(json_real_value(v)) >= 1000 ? "%.0f" : "%.4g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
    else {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(buf, cap, "%s", s ? s : "?");
        free(s);
    }
    return buf;
}

char *render_time(char *buf, size_t cap, const json_t *v)
{
    if (!json_is_number(v))
        return render_scalar(buf, cap, v);
    double t = json_number_value(v);
    time_t s = (time_t)(t > 1e11 ? t / 1000.0 : t);
    struct tm tm;
    if (t <= 0 || !localtime_r(&s, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, cap, "-");
    return buf;
}

char *render_bar(char *buf, size_t cap, double fraction, int width)
{
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    int full = (int)(fraction * width + 0.5), n = 0;
    if ((size_t)width + 3 > cap)
        width = (int)cap - 3, full = full > width ? width : full;
    buf[n++] = '[';
    for (int i = 0; i < width; i++)
        buf[n++] = i < full ? '#' : '.';
    buf[n++] = ']';
    buf[n] = '\0';
    return buf;
}

/* ---- tables ---- */

int render_table_init(render_table *t, int ncols, const char *const *headers)
{
    *t = (render_table){.ncols = ncols};
    return render_table_add(t, headers);
}

int render_table_add(render_table *t, const char *const *cells)
{
    int row = t->cells ? t->nrows + 1 : 0;
    if (row > RENDER_MAX_ROWS) {
        t->dropped++;
        return 0;
    }
    char **c = realloc(t->cells, sizeof *c * (size_t)(row + 1) * (size_t)t->ncols);
    if (!c)
        return -1;
    t->cells = c;
    for (int i = 0; i < t->ncols; i++)
        c[row * t->ncols + i] = strdup(cells[i] ? cells[i] : "-");
    if (row > 0)
        t->nrows++;
    return 0;
}

void render_table_print(const render_table *t, FILE *f)
{
    int w[RENDER_MAX_COLS] = {0};
    for (int r = 0; r <= t->nrows; r++)
        for (int i = 0; i < t->ncols && i < RENDER_MAX_COLS; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int len = s ? (int)strlen(s) : 1;
            w[i] = len > w[i] ? len : w[i];
        }
    for (int r = 0; r <= t->nrows; r++) {
        for (int i = 0; i < t->ncols && i < RENDER_MAX_COLS; i++) {
            const char *s = t->cells[r * t->ncols + i];
            if (i == t->ncols - 1)
                fprintf(f, "%s", s ? s : "-");
            else
                fprintf(f, "%-*s  ", w[i], s ? s : "-");
        }
        fputc('\n', f);
    }
    if (t->dropped)
        fprintf(f, "(%d more rows not shown)\n", t->dropped);
}

void render_table_free(render_table *t)
{
    if (t->cells)
        for (int i = 0; i < (t->nrows + 1) * t->ncols; i++)
            free(t->cells[i]);
    free(t->cells);
    *t = (render_table){0};
}

static int table_columns(const json_t *items, const char *const *cols, const char **out)
{
    int n = 0;
    if (cols) {
        while (cols[n] && n < RENDER_MAX_COLS)
            out[n] = cols[n], n++;
        return n;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_array_get(items, 0), key, v)
    {
        if (n < RENDER_MAX_COLS && !json_is_object(v) && !json_is_array(v))
            out[n++] = key;
    }
    return n;
}

void render_json_table(FILE *f, const json_t *items, const char *const *cols)
{
    const char *col[RENDER_MAX_COLS];
    int n = table_columns(items, cols, col);
    if (n == 0) {
        fprintf(f, "(none)\n");
        return;
    }
    render_table t;
    char cell[RENDER_MAX_COLS][256];
    const char *row[RENDER_MAX_COLS];
    if (render_table_init(&t, n, col))
        return;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        for (int c = 0; c < n; c++)
            row[c] = render_scalar(cell[c], sizeof cell[c], json_object_get(it, col[c]));
        render_table_add(&t, row);
    }
    render_table_print(&t, f);
    render_table_free(&t);
}

/* ---- the accuracy-against-memory plot ---- */

typedef struct axis {
    double lo, hi;
    int log;
} axis;

static axis axis_fit(const double *v, int n, int allow_log)
{
    axis a = {v[0], v[0], 0};
    for (int i = 1; i < n; i++)
        a.lo = v[i] < a.lo ? v[i] : a.lo, a.hi = v[i] > a.hi ? v[i] : a.hi;
    if (allow_log && a.lo > 0 && a.hi / a.lo > 20)
        a.log = 1, a.lo = log10(a.lo), a.hi = log10(a.hi);
    if (a.hi - a.lo < 1e-12) {
        double pad = fabs(a.lo) * 0.05 + 1e-3;
        a.lo -= pad, a.hi += pad;
    }
    return a;
}

static int axis_cell(const axis *a, double v, int cells)
{
    double x = a->log ? log10(v) : v;
    int c = (int)floor((x - a->lo) / (a->hi - a->lo) * (cells - 1) + 0.5);
    return c < 0 ? 0 : c >= cells ? cells - 1 : c;
}

static void plot_grid(char *grid, const render_point *p, int n, int w, int h)
{
    double *xs = malloc(sizeof *xs * (size_t)n), *ys = malloc(sizeof *ys * (size_t)n);
    if (!xs || !ys)
        goto out;
    for (int i = 0; i < n; i++)
        xs[i] = p[i].memory, ys[i] = p[i].accuracy;
    axis ax = axis_fit(xs, n, 1), ay = axis_fit(ys, n, 0);
    memset(grid, ' ', (size_t)w * (size_t)h);
    for (int i = 0; i < n; i++) {
        int col = axis_cell(&ax, p[i].memory, w), row = h - 1 - axis_cell(&ay, p[i].accuracy, h);
        char *cell = &grid[row * w + col];
        *cell = p[i].front ? '*' : *cell == '*' ? '*' : '.';
    }
out:
    free(xs), free(ys);
}

void render_plot(FILE *f, const render_point *p, int n, int width, int height)
{
    if (n <= 0)
        return;
    char *grid = malloc((size_t)width * (size_t)height);
    double lo = p[0].memory, hi = p[0].memory, alo = p[0].accuracy, ahi = p[0].accuracy;
    if (!grid)
        return;
    for (int i = 1; i < n; i++) {
        lo = p[i].memory < lo ? p[i].memory : lo, hi = p[i].memory > hi ? p[i].memory : hi;
        alo = p[i].accuracy < alo ? p[i].accuracy : alo;
        ahi = p[i].accuracy > ahi ? p[i].accuracy : ahi;
    }
    plot_grid(grid, p, n, width, height);
    fprintf(f, "accuracy\n");
    for (int r = 0; r < height; r++) {
        if (r == 0 || r == height - 1)
            fprintf(f, "%6.2f%% |", 100.0 * (r == 0 ? ahi : alo));
        else
            fprintf(f, "        |");
        int used = width;
        while (used > 0 && grid[r * width + used - 1] == ' ')
            used--;
        fprintf(f, "%.*s\n", used, grid + r * width);
    }
    char a[32], b[32];
    fprintf(f, "        +");
    for (int i = 0; i < width; i++)
        fputc('-', f);
    render_bytes(a, sizeof a, lo), render_bytes(b, sizeof b, hi);
    fprintf(f, "\n         %-*s%s\n", width - (int)strlen(b), a, b);
    fprintf(f, "         memory%s   * on the front   . other points\n",
            lo > 0 && hi / lo > 20 ? " (log scale)" : "");
    free(grid);
}
