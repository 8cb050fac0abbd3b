/*
 * auth.h: teams and bearer tokens. A token is "qdt_" and 48 random hex digits; the store keeps
 * its SHA-256 and, as a public handle for listing and revoking, its first 12 hex digits.
 * Tokens are needed on every API call (except /healthz) once one exists that is not revoked,
 * and always when the daemon listens beyond loopback.
 */
#ifndef QD_AUTH_H
#define QD_AUTH_H

#include "app.h"

#define AUTH_TOKEN_LEN 53 /* "qdt_" + 48 hex digits + NUL */
#define AUTH_ID_LEN 13

/* 1..64 characters of letters, digits, '.', '_' and '-'. */
int auth_team_valid(const char *team);
/* A new token for team, stored hashed; the token itself is returned once, here. */
int auth_token_create(store *st, const char *team, int admin, char token[AUTH_TOKEN_LEN],
                      char id[AUTH_ID_LEN], qd_err *err);
/*
 * Who calls: from the Authorization header (may be NULL). Fills team and admin and returns 0;
 * QD_EAUTH when a token is needed and missing, malformed, unknown or revoked. Without tokens
 * the caller is the anonymous team "" with admin rights.
 */
int auth_request(qd_app *a, const char *authorization, char team[STORE_TEAM_LEN], int *admin,
                 qd_err *err);

#endif
