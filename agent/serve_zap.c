// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * CURVE for `serve`: the agent is a CURVE server with its secret key, and a ZAP handler
 * (RFC 27) admits a client only when its public key is in --authorized-keys. The handler is a
 * REP socket in the agent's own context, polled by the main loop: libzmq's I/O thread parks
 * the handshake until the reply comes, so no thread of our own is needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "nb_keys.h"
#include "serve.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_DOMAIN   "netblame"
#define S_ZAP_FRAMES   7   /* version, request id, domain, address, identity, mechanism, key */
#define S_ZAP_FRAME    256 /* bytes kept of one frame; libzmq's own frames are far shorter */
#define S_ZAP_BATCH    64  /* requests answered per call, so the loop stays responsive */

#define S_LIST_LINES 32 /* keys named one a line at start and on reload; the rest counted */

struct nb_zap {
	struct nb_srv *srv;
	const char *node;
	const char *auth_file; /* re-read on SIGHUP */
	void *rep;
	struct nb_authkeys *ak;
	uint64_t refused;
	uint64_t reloads, reload_failures;
};

struct s_frame {
	size_t len; /* the frame's real length, possibly more than what was kept */
	char data[S_ZAP_FRAME];
};

static int s_setsock(void *sock, int opt, const void *val, size_t len, const char *what,
		     const char *node)
{
	if (zmq_setsockopt(sock, opt, val, len) == 0)
		return 0;
	fprintf(stderr, "%s: cannot set %s: %s\n", node, what, zmq_strerror(errno));
	return -1;
}

/* Loads z->auth_file into *out; one line on stderr when it cannot (an empty list included). */
static int s_load(const struct nb_zap *z, struct nb_authkeys **out)
{
	struct nb_keys_err kerr = {0};
	int err;

	err = nb_authkeys_load(z->auth_file, out, &kerr);
	if (err) {
		if (kerr.line)
			fprintf(stderr, "%s: %s:%u: %s\n", z->node, z->auth_file, kerr.line,
				kerr.what ? kerr.what : strerror(-err));
		else
			fprintf(stderr, "%s: cannot load %s: %s\n", z->node, z->auth_file,
				kerr.what ? kerr.what : strerror(-err));
		return err;
	}
	if (!(*out)->n) {
		/* Nobody could ever connect: certainly a mistake, not a policy. */
		fprintf(stderr, "%s: %s lists no keys\n", z->node, z->auth_file);
		nb_authkeys_free(out);
		return -EINVAL;
	}
	return 0;
}

/* "WHAT key SHA256:... (label)" for each key of ak that is not in other (NULL: every key). */
static uint32_t s_list(const struct nb_zap *z, const struct nb_authkeys *ak,
		       const struct nb_authkeys *other, const char *what)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ak->n; i++) {
		const struct nb_authkey *k = &ak->keys[i];
		char fpr[NB_KEY_FPR_LEN + 1];

		if (other && nb_authkeys_contains(other, k->raw))
			continue;
		if (++n > S_LIST_LINES || nb_keys_fingerprint(k->raw, fpr))
			continue;
		fprintf(stderr, "%s: %s key %s%s%s%s\n", z->node, what, fpr, k->label[0] ? " (" : "",
			k->label, k->label[0] ? ")" : "");
	}
	if (n > S_LIST_LINES)
		fprintf(stderr, "%s: ... and %u more %s keys\n", z->node, n - S_LIST_LINES, what);
	return n;
}

int nb_zap_reload(struct nb_zap *z)
{
	struct nb_authkeys *ak = NULL;
	uint32_t added, removed;
	int err;

	if (!z)
		return -ENOENT;
	err = s_load(z, &ak);
	if (err) {
		z->reload_failures++;
		fprintf(stderr, "%s: SIGHUP: kept the %u keys loaded before\n", z->node, z->ak->n);
		return err;
	}
	added = s_list(z, ak, z->ak, "added");
	removed = s_list(z, z->ak, ak, "removed");
	nb_authkeys_free(&z->ak);
	z->ak = ak;
	z->reloads++;
	fprintf(stderr, "%s: SIGHUP: reloaded %s: %u keys (%u added, %u removed)\n", z->node,
		z->auth_file, ak->n, added, removed);
	return 0;
}

bool nb_zap_allowed(const struct nb_zap *z, const char *fpr)
{
	char f[NB_KEY_FPR_LEN + 1];

	for (uint32_t i = 0; z && i < z->ak->n; i++)
		if (!nb_keys_fingerprint(z->ak->keys[i].raw, f) && !strcmp(f, fpr))
			return true;
	return false;
}

void nb_zap_counters(const struct nb_zap *z, uint64_t *reloads, uint64_t *failures,
		     uint32_t *keys)
{
	*reloads = z ? z->reloads : 0;
	*failures = z ? z->reload_failures : 0;
	*keys = z ? z->ak->n : 0;
}

int nb_zap_setup(struct nb_zap **out, struct nb_srv *srv, const char *secret_file,
		 const char *auth_file)
{
	const char *node = srv->node;
	void *router = srv->router;
	char fpr[NB_KEY_FPR_LEN + 1];
	struct nb_ckey sec, pub;
	struct nb_zap *z;
	int one = 1, zero = 0, err;

	*out = NULL;
	if (!nb_keys_curve_available()) {
		fprintf(stderr, "%s: this libzmq has no CURVE support; rebuild it with libsodium\n",
			node);
		return -EOPNOTSUPP;
	}
	z = calloc(1, sizeof(*z));
	if (!z) {
		fprintf(stderr, "%s: out of memory\n", node);
		return -ENOMEM;
	}
	z->srv = srv;
	z->node = node;
	err = nb_keys_read_secret(secret_file, &sec);
	if (err) {
		fprintf(stderr, "%s: cannot read secret key %s: %s%s\n", node, secret_file,
			strerror(-err),
			err == -EPERM ? " (group or others may read it: chmod 600 and treat it as "
					"disclosed)"
				      : "");
		goto fail;
	}
	z->auth_file = auth_file;
	err = s_load(z, &z->ak);
	if (err)
		goto fail;
	err = nb_keys_public_of(&sec, &pub);
	if (!err)
		err = nb_keys_fingerprint(pub.raw, fpr);
	if (err) {
		fprintf(stderr, "%s: cannot derive the public key of %s: %s\n", node, secret_file,
			strerror(-err));
		goto fail;
	}
	/* What coordinators' operators compare with the server-key they were given. */
	fprintf(stderr, "%s: server key %s\n", node, fpr);
	s_list(z, z->ak, NULL, "authorized");

	/* The handler must be bound before the ROUTER can see a handshake. */
	z->rep = zmq_socket(srv->zctx, ZMQ_REP);
	err = -EIO;
	if (!z->rep) {
		fprintf(stderr, "%s: cannot create the ZAP socket: %s\n", node,
			zmq_strerror(errno));
		goto fail;
	}
	if (s_setsock(z->rep, ZMQ_LINGER, &zero, sizeof(zero), "ZAP linger", node))
		goto fail;
	if (zmq_bind(z->rep, S_ZAP_ENDPOINT)) {
		fprintf(stderr, "%s: cannot bind the ZAP handler: %s\n", node, zmq_strerror(errno));
		goto fail;
	}
	if (s_setsock(router, ZMQ_CURVE_SERVER, &one, sizeof(one), "CURVE server", node) ||
	    s_setsock(router, ZMQ_CURVE_SECRETKEY, sec.raw, NB_KEY_RAW_LEN, "CURVE secret key",
		      node) ||
	    s_setsock(router, ZMQ_ZAP_DOMAIN, S_ZAP_DOMAIN, strlen(S_ZAP_DOMAIN), "ZAP domain",
		      node))
		goto fail;
	explicit_bzero(&sec, sizeof(sec));
	*out = z;
	return 0;
fail:
	explicit_bzero(&sec, sizeof(sec));
	nb_zap_destroy(&z);
	return err;
}

void *nb_zap_socket(const struct nb_zap *z)
{
	return z ? z->rep : NULL;
}

uint64_t nb_zap_refused(const struct nb_zap *z)
{
	return z ? z->refused : 0;
}

/* Reads one whole request (every frame, whatever its count); false when none was waiting. */
static bool s_recv_request(void *rep, struct s_frame *f, int *nframes)
{
	int n = 0, more;

	do {
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, rep, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			if (n == 0)
				return false;
			break; /* cannot happen: a multipart message arrives whole */
		}
		if (n < S_ZAP_FRAMES) {
			size_t len = zmq_msg_size(&m);

			f[n].len = len;
			memcpy(f[n].data, zmq_msg_data(&m), len < S_ZAP_FRAME ? len : S_ZAP_FRAME);
		}
		n++;
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
	} while (more);
	*nframes = n;
	return true;
}

/*
 * meta: the metadata frame, ZMTP properties (name length, name, 32-bit big-endian value
 * length, value) that libzmq attaches to every message of the connection.
 */
static void s_reply(void *rep, const struct s_frame *reqid, const char *code, const char *text,
		    const char *user, const void *meta, size_t meta_len)
{
	static const char version[] = "1.0";
	size_t idlen = reqid ? (reqid->len < S_ZAP_FRAME ? reqid->len : S_ZAP_FRAME) : 0;

	/* REP must answer every request, or the socket (and every later handshake) is stuck. */
	zmq_send(rep, version, strlen(version), ZMQ_SNDMORE);
	zmq_send(rep, reqid ? reqid->data : "", idlen, ZMQ_SNDMORE);
	zmq_send(rep, code, strlen(code), ZMQ_SNDMORE);
	zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(rep, meta, meta_len, 0);
}

/* The client's key as a property: per-client limits count by it (see nb_client in serve.h). */
static size_t s_key_meta(uint8_t *out, const char *fpr)
{
	size_t nlen = strlen(NB_ZAP_CLIENT_KEY), vlen = strlen(fpr), n = 0;

	out[n++] = (uint8_t)nlen;
	memcpy(out + n, NB_ZAP_CLIENT_KEY, nlen);
	n += nlen;
	out[n++] = (uint8_t)(vlen >> 24);
	out[n++] = (uint8_t)(vlen >> 16);
	out[n++] = (uint8_t)(vlen >> 8);
	out[n++] = (uint8_t)vlen;
	memcpy(out + n, fpr, vlen);
	return n + vlen;
}

static bool s_frame_is(const struct s_frame *f, const char *s)
{
	return f->len == strlen(s) && !memcmp(f->data, s, f->len);
}

static const struct nb_authkey *s_lookup(const struct nb_zap *z, const uint8_t *raw)
{
	for (uint32_t i = 0; i < z->ak->n; i++)
		if (!memcmp(z->ak->keys[i].raw, raw, NB_KEY_RAW_LEN))
			return &z->ak->keys[i];
	return NULL;
}

/* The peer address as libzmq gives it, made safe and short for a log line. */
static void s_addr(const struct s_frame *f, char *out, size_t size)
{
	size_t n = f->len < S_ZAP_FRAME ? f->len : S_ZAP_FRAME, j = 0;

	for (size_t i = 0; i < n && j + 1 < size; i++) {
		char c = f->data[i];

		out[j++] = (c > 0x20 && c < 0x7f) ? c : '?';
	}
	out[j] = 0;
	if (!j)
		snprintf(out, size, "?");
}

static void s_refuse(struct nb_zap *z, uint64_t now, const char *addr, const char *why)
{
	z->refused++;
	nb_srv_refused(z->srv, now, addr, 0, why);
}

static void s_handle_one(struct nb_zap *z, const struct s_frame *f, int n, uint64_t now)
{
	char addr[64], fpr[NB_KEY_FPR_LEN + 1], why[160], user[NB_AUTH_LABEL_MAX + 1];
	uint8_t meta[1 + sizeof(NB_ZAP_CLIENT_KEY) + 4 + NB_KEY_FPR_LEN];
	const struct nb_authkey *k;

	if (n < 2) {
		s_reply(z->rep, NULL, "500", "bad request", "", "", 0);
		return;
	}
	/* Only our own ROUTER talks to this inproc endpoint, but check as if it were hostile. */
	if (n != S_ZAP_FRAMES || !s_frame_is(&f[0], "1.0") || !s_frame_is(&f[5], "CURVE") ||
	    f[6].len != NB_KEY_RAW_LEN) {
		s_addr(n > 3 ? &f[3] : &f[1], addr, sizeof(addr));
		s_refuse(z, now, addr, "not a CURVE handshake");
		s_reply(z->rep, &f[1], "400", "CURVE required", "", "", 0);
		return;
	}
	s_addr(&f[3], addr, sizeof(addr));
	k = s_lookup(z, (const uint8_t *)f[6].data);
	if (nb_keys_fingerprint((const uint8_t *)f[6].data, fpr)) {
		/* Without it the key could not be told from others: no admission. */
		s_refuse(z, now, addr, "cannot fingerprint the key");
		s_reply(z->rep, &f[1], "500", "internal error", "", "", 0);
		return;
	}
	if (!k) {
		snprintf(why, sizeof(why), "key %s is not in the authorized keys", fpr);
		s_refuse(z, now, addr, why);
		s_reply(z->rep, &f[1], "400", "not authorized", "", "", 0);
		return;
	}
	/* The User-Id names the coordinator in our session log lines. */
	if (k->label[0])
		snprintf(user, sizeof(user), "%s", k->label);
	else
		snprintf(user, sizeof(user), "%.16s", fpr + 7);
	s_reply(z->rep, &f[1], "200", "OK", user, meta, s_key_meta(meta, fpr));
}

void nb_zap_handle(struct nb_zap *z, uint64_t now)
{
	struct s_frame f[S_ZAP_FRAMES];
	int n;

	for (int i = 0; i < S_ZAP_BATCH; i++) {
		memset(f, 0, sizeof(f));
		if (!s_recv_request(z->rep, f, &n))
			return;
		s_handle_one(z, f, n, now);
	}
}

void nb_zap_destroy(struct nb_zap **pz)
{
	struct nb_zap *z = pz ? *pz : NULL;

	if (!z)
		return;
	if (z->rep)
		zmq_close(z->rep);
	nb_authkeys_free(&z->ak);
	free(z);
	*pz = NULL;
}
