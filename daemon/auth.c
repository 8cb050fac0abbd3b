/*
 * auth.c: tokens (auth.h). Tokens carry 192 random bits, so one SHA-256 is a sufficient hash:
 * there is nothing to guess by brute force that a slow hash would protect. Lookups go through
 * the store by hash; a revoked token stops working at the next request. Whether tokens are
 * needed at all (any token not revoked) is read at most once a second, so the first token
 * created while the daemon runs is enforced within a second.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "qtime.h"

#define PREFIX "qdt_"
#define AUTH_RECHECK_MS 1000

int auth_team_valid(const char *team)
{
    size_t n = strlen(team);
    if (n < 1 || n > STORE_TEAM_LEN - 1)
        return 0;
    return strspn(team, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int auth_token_create(store *st, const char *team, int admin, char token[AUTH_TOKEN_LEN],
                      char id[AUTH_ID_LEN], qd_err *err)
{
    char hex[49], hash[DIGEST_HEX_LEN];
    if (!auth_team_valid(team))
        return qd_fail(err, QD_EINVAL, "team",
                       "a team name is 1 to 64 letters, digits, '.', '_' or '-'");
    if (digest_random_hex(hex, 24) < 0)
        return qd_fail(err, QD_EIO, NULL, "no random numbers for a token");
    snprintf(token, AUTH_TOKEN_LEN, PREFIX "%s", hex);
    snprintf(id, AUTH_ID_LEN, "%.12s", hex);
    digest_sha256_hex(token, strlen(token), hash);
    return store_token_add(st, id, team, admin, hash, qtime_now_ms(), err);
}

/* Whether tokens are needed: read from the store at most once a second. */
static int tokens_needed(qd_app *a, qd_err *err)
{
    if (a->public_listen)
        return 1;
    int64_t now = qtime_now_ms();
    if (now - atomic_load(&a->tokens_checked) < AUTH_RECHECK_MS)
        return atomic_load(&a->tokens_active) > 0;
    int n = store_token_active(a->st, err);
    if (n < 0)
        return n;
    atomic_store(&a->tokens_active, n);
    atomic_store(&a->tokens_checked, now);
    return n > 0;
}

int auth_request(qd_app *a, const char *authorization, char team[STORE_TEAM_LEN], int *admin,
                 qd_err *err)
{
    team[0] = '\0';
    *admin = 1;
    int active = tokens_needed(a, err);
    if (active < 0)
        return active;
    if (active == 0)
        return 0;
    *admin = 0;
    if (!authorization)
        return qd_fail(err, QD_EAUTH, "Authorization",
                       "this server needs a token: send \"Authorization: Bearer TOKEN\"");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return qd_fail(err, QD_EAUTH, "Authorization",
                       "the Authorization header must be \"Bearer TOKEN\"");
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    while (n > 0 && tok[n - 1] == ' ')
        n--;
    if (n != AUTH_TOKEN_LEN - 1 || strncmp(tok, PREFIX, 4) != 0 ||
        strspn(tok + 4, "0123456789abcdef") < n - 4)
        return qd_fail(err, QD_EAUTH, "Authorization", "malformed token");
    char hash[DIGEST_HEX_LEN];
    digest_sha256_hex(tok, n, hash);
    int rc = store_token_find(a->st, hash, team, admin, err);
    if (rc == QD_EAUTH)
        return qd_fail(err, QD_EAUTH, "Authorization", "unknown or revoked token");
    return rc;
}
