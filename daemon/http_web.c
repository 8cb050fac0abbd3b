/*
 * http_web.c: the web page: GET / (web/index.html) and GET /static/{name} (the page's script,
 * style sheet and icon, and Chart.js from Debian's libjs-chart.js). The files are compiled into
 * the binary by web/embed.sh ($(BUILD)/gen/web_assets.h), so the page needs no files on the
 * server, no CDN and no network beyond this daemon.
 *
 * These routes need no token (the page holds no data; the API calls it makes carry the token the
 * user typed in). Each answer carries its ETag (a hash of the file, so it changes with each
 * build that changes the file) with Cache-Control: no-cache, so a browser revalidates and gets
 * 304 for an If-None-Match that matches; the gzip copy when the client accepts gzip; and a
 * Content-Security-Policy that lets the page load scripts, styles, images and API calls from
 * this origin only (no inline script or style, no other host, no framing).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "web_assets.h"

#define N_ASSETS ((int)(sizeof web_assets / sizeof *web_assets))

static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

static const struct web_asset *find_asset(const char *name)
{
    for (int i = 0; i < N_ASSETS; i++)
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    return NULL;
}

/* Whether the comma-separated list of entity tags (If-None-Match) names etag, weakly or not. */
static int etag_listed(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    while (list && *list) {
        list += strspn(list, " \t,");
        if (strncmp(list, "W/", 2) == 0)
            list += 2;
        size_t k = strcspn(list, " \t,");
        if ((k == 1 && list[0] == '*') || (k == n && strncmp(list, etag, n) == 0))
            return 1;
        list += k;
    }
    return 0;
}

/* Whether Accept-Encoding takes gzip: the token present without q=0. */
static int accepts_gzip(const char *ae)
{
    while (ae && *ae) {
        ae += strspn(ae, " \t,");
        size_t k = strcspn(ae, ",");
        size_t t = strcspn(ae, " \t;,");
        if ((t == 4 && strncasecmp(ae, "gzip", 4) == 0) ||
            (t == 6 && strncasecmp(ae, "x-gzip", 6) == 0)) {
            const char *q = memchr(ae, ';', k);
            if (!q)
                return 1;
            q += 1 + strspn(q + 1, " \t");
            double v = 1;
            if (strncasecmp(q, "q=", 2) == 0 && sscanf(q + 2, "%lf", &v) == 1 && v <= 0)
                return 0;
            return 1;
        }
        ae += k;
    }
    return 0;
}

static void common_headers(struct MHD_Response *resp, const char *etag)
{
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

enum MHD_Result http_web_asset(http_req *r)
{
    const char *name = r->param[0][0] ? r->param[0] : "index.html";
    const struct web_asset *a = find_asset(name);
    if (!a || (r->param[0][0] && strcmp(name, "index.html") == 0))
        return http_error(r, QD_ENOENT, "", "no file %s: the page is at /", name);
    int gz = a->gz && accepts_gzip(http_header(r, "Accept-Encoding"));
    char etag[48];
    /* the two encodings are two representations: each has its own tag */
    snprintf(etag, sizeof etag, gz ? "%.*s-gzip\"" : "%.*s\"", (int)strlen(a->etag) - 1, a->etag);
    struct MHD_Response *resp;
    if (etag_listed(http_header(r, "If-None-Match"), etag)) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        common_headers(resp, etag);
        return http_send(r, 304, resp);
    }
    resp = MHD_create_response_from_buffer(gz ? a->gz_len : a->len,
                                           (void *)(gz ? a->gz : a->data), MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    common_headers(resp, etag);
    MHD_add_response_header(resp, "Content-Type", a->type);
    if (gz)
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    return http_send(r, 200, resp);
}
