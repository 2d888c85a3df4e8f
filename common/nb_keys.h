/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * CURVE key files.
 *
 * A key file holds one z85-encoded key (40 characters) and a newline: DIR/netblame.pub (the
 * public key, mode 0644) and DIR/netblame.key (the secret key, mode 0600). An authorized-keys
 * file lists the coordinator public keys an agent accepts, one z85 key per line, optionally
 * followed by whitespace and a label; '#' starts a comment line and blank lines are allowed.
 * A key is shown to people as its fingerprint, "SHA256:" + the lowercase hex SHA-256 of the 32
 * raw public key bytes.
 *
 * Errors are negative errno. Nothing here prints: the callers say what went wrong, using the
 * line number and reason that the parsers hand back.
 */
#ifndef NB_KEYS_H
#define NB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_KEY_RAW_LEN	  32
#define NB_KEY_Z85_LEN	  40
#define NB_KEY_FPR_LEN	  (7 + 64) /* "SHA256:" + 64 hex digits */
#define NB_KEY_PUB_FILE	  "netblame.pub"
#define NB_KEY_SEC_FILE	  "netblame.key"
#define NB_AUTH_MAX_KEYS  1024
#define NB_AUTH_LABEL_MAX 63 /* longer labels are cut: they are only for people */

/*
 * One CURVE key in both forms: libzmq's socket options take either. (Not "nb_key": that is
 * the packet identity of nb_join.h, and both headers meet in the coordinator.)
 */
struct nb_ckey {
	uint8_t raw[NB_KEY_RAW_LEN];
	char z85[NB_KEY_Z85_LEN + 1];
};

struct nb_keypair {
	struct nb_ckey pub;
	struct nb_ckey sec;
};

/* True when libzmq was built with CURVE (zmq_has("curve")). */
bool nb_keys_curve_available(void);

/* A fresh keypair: -EOPNOTSUPP without CURVE. */
int nb_keys_generate(struct nb_keypair *kp);

/* The public key of a secret key: a client needs both for ZMQ_CURVE_PUBLICKEY/SECRETKEY. */
int nb_keys_public_of(const struct nb_ckey *sec, struct nb_ckey *pub);

/* DIR + "/" + name into out: -ENAMETOOLONG when it does not fit. */
int nb_keys_path(char *out, size_t size, const char *dir, const char *name);

/*
 * Writes DIR/netblame.key then DIR/netblame.pub. Without force an existing file is -EEXIST and
 * nothing is left behind (a secret written before the public key failed is removed again).
 * With force each file is written to a temporary name in DIR and renamed over the old one, so
 * a reader never sees half a key and the old file's looser mode is never reused.
 */
int nb_keys_write(const char *dir, const struct nb_keypair *kp, bool force);

/*
 * Parses one z85 key as text: exactly NB_KEY_Z85_LEN characters of the z85 alphabet that
 * decode canonically (-EINVAL otherwise).
 */
int nb_keys_parse(const char *z85, size_t len, struct nb_ckey *key);

/*
 * Reads a key file: one key, then an optional newline, nothing else (-EINVAL otherwise; a file
 * over 4 KiB is -EFBIG). The secret variant also refuses (-EPERM) a file that group or others
 * may access, as ssh does: such a key must be taken as disclosed.
 */
int nb_keys_read_public(const char *path, struct nb_ckey *key);
int nb_keys_read_secret(const char *path, struct nb_ckey *key);

/* "SHA256:<hex>" into out (NB_KEY_FPR_LEN + 1 bytes). */
int nb_keys_fingerprint(const uint8_t raw[NB_KEY_RAW_LEN], char out[NB_KEY_FPR_LEN + 1]);

struct nb_authkey {
	uint8_t raw[NB_KEY_RAW_LEN];
	char label[NB_AUTH_LABEL_MAX + 1];
};

struct nb_authkeys {
	uint32_t n;
	struct nb_authkey keys[];
};

/*
 * Where a parse failed, for the caller's message ("FILE:LINE: WHAT"). line is 1-based, 0 when
 * the failure is not about one line (the file could not be opened, is too big, ...).
 */
struct nb_keys_err {
	unsigned int line;
	const char *what;
};

/*
 * Loads an authorized-keys file (at most NB_AUTH_MAX_KEYS keys, 1 MiB, lines of 1024 bytes).
 * Any malformed line fails the whole file with -EINVAL (-E2BIG past the key limit) and err
 * names it: a typo must not quietly shrink the list of who may connect. A key listed twice is
 * kept once. An empty list is valid here; whether to run with it is the caller's decision.
 */
int nb_authkeys_load(const char *path, struct nb_authkeys **out, struct nb_keys_err *err);
bool nb_authkeys_contains(const struct nb_authkeys *ak, const uint8_t raw[NB_KEY_RAW_LEN]);
/* Frees *ak and sets it to NULL; NULL is fine. */
void nb_authkeys_free(struct nb_authkeys **ak);

#endif /* NB_KEYS_H */
