// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The serve path's libraries (libzmq, libmicrohttpd, libcrypto), opened when serve starts
 * instead of by the dynamic loader at every start of the binary. Linked in, they and what they
 * pull in (gnutls, krb5, libstdc++, about 25 libraries) cost each single-host tool about 6 MiB
 * of its peak RSS and tens of milliseconds of its start, for functions only serve calls
 * (docs/ARCHITECTURE.md, "Start and memory of the single-host tools").
 *
 * Each function of theirs the agent calls has a stub here with the library's own prototype
 * (the headers check it) that calls the real one through a pointer resolved when the library
 * is opened. A call with no stub here fails the agent's link, so none can be forgotten.
 */
#include "agent.h"
#include "nb_log.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <zmq.h>

/* The sonames come from the build machine's libraries (Makefile). */
_Static_assert(sizeof(NB_SONAME_ZMQ) > 1 && sizeof(NB_SONAME_MHD) > 1 &&
		       sizeof(NB_SONAME_CRYPTO) > 1,
	       "a serve library's soname was not found at build time");

enum { S_ZMQ, S_MHD, S_CRYPTO, S_NLIBS };
static const char *const s_soname[S_NLIBS] = {NB_SONAME_ZMQ, NB_SONAME_MHD, NB_SONAME_CRYPTO};

/* X(library, return type, name, (parameters), (arguments)): the functions with a value. */
#define S_FUNCS(X)                                                                                 \
	X(S_ZMQ, void *, zmq_ctx_new, (void), ())                                                  \
	X(S_ZMQ, int, zmq_ctx_term, (void *c), (c))                                                \
	X(S_ZMQ, void *, zmq_socket, (void *c, int type), (c, type))                               \
	X(S_ZMQ, int, zmq_close, (void *s), (s))                                                   \
	X(S_ZMQ, int, zmq_bind, (void *s, const char *a), (s, a))                                  \
	X(S_ZMQ, int, zmq_connect, (void *s, const char *a), (s, a))                               \
	X(S_ZMQ, int, zmq_setsockopt, (void *s, int o, const void *v, size_t n), (s, o, v, n))     \
	X(S_ZMQ, int, zmq_getsockopt, (void *s, int o, void *v, size_t *n), (s, o, v, n))          \
	X(S_ZMQ, int, zmq_socket_monitor, (void *s, const char *a, int ev), (s, a, ev))            \
	X(S_ZMQ, int, zmq_send, (void *s, const void *b, size_t n, int f), (s, b, n, f))           \
	X(S_ZMQ, int, zmq_poll, (zmq_pollitem_t * it, int n, long t), (it, n, t))                  \
	X(S_ZMQ, int, zmq_msg_init, (zmq_msg_t * m), (m))                                          \
	X(S_ZMQ, int, zmq_msg_close, (zmq_msg_t * m), (m))                                         \
	X(S_ZMQ, int, zmq_msg_recv, (zmq_msg_t * m, void *s, int f), (m, s, f))                    \
	X(S_ZMQ, void *, zmq_msg_data, (zmq_msg_t * m), (m))                                       \
	X(S_ZMQ, size_t, zmq_msg_size, (const zmq_msg_t *m), (m))                                  \
	X(S_ZMQ, int, zmq_msg_more, (const zmq_msg_t *m), (m))                                     \
	X(S_ZMQ, int, zmq_msg_get, (const zmq_msg_t *m, int p), (m, p))                            \
	X(S_ZMQ, const char *, zmq_msg_gets, (const zmq_msg_t *m, const char *p), (m, p))          \
	X(S_ZMQ, const char *, zmq_strerror, (int e), (e))                                         \
	X(S_ZMQ, int, zmq_has, (const char *c), (c))                                               \
	X(S_ZMQ, int, zmq_curve_keypair, (char *pub, char *sec), (pub, sec))                       \
	X(S_ZMQ, int, zmq_curve_public, (char *pub, const char *sec), (pub, sec))                  \
	X(S_ZMQ, char *, zmq_z85_encode, (char *d, const uint8_t *s, size_t n), (d, s, n))         \
	X(S_ZMQ, uint8_t *, zmq_z85_decode, (uint8_t * d, const char *s), (d, s))                  \
	X(S_MHD, enum MHD_Result, MHD_run, (struct MHD_Daemon * d), (d))                           \
	X(S_MHD, enum MHD_Result, MHD_queue_response,                                              \
	  (struct MHD_Connection * c, unsigned int code, struct MHD_Response *r), (c, code, r))    \
	X(S_MHD, struct MHD_Response *, MHD_create_response_from_buffer,                           \
	  (size_t n, void *b, enum MHD_ResponseMemoryMode m), (n, b, m))                           \
	X(S_MHD, enum MHD_Result, MHD_add_response_header,                                         \
	  (struct MHD_Response * r, const char *h, const char *v), (r, h, v))                      \
	X(S_CRYPTO, const EVP_MD *, EVP_sha256, (void), ())                                        \
	X(S_CRYPTO, int, EVP_Digest,                                                               \
	  (const void *d, size_t n, unsigned char *md, unsigned int *sz, const EVP_MD *t,          \
	   ENGINE *e),                                                                             \
	  (d, n, md, sz, t, e))

/* The functions without a value. */
#define S_VOIDS(X)                                                                                 \
	X(S_MHD, void, MHD_stop_daemon, (struct MHD_Daemon * d), (d))                              \
	X(S_MHD, void, MHD_destroy_response, (struct MHD_Response * r), (r))

/* The variadic ones, called through the library's va_list form or their fixed arguments. */
#define S_OTHERS(X)                                                                                \
	X(S_MHD, , MHD_start_daemon_va, , )                                                        \
	X(S_MHD, , MHD_get_daemon_info, , )

#define S_PTR(lib, ret, name, params, args) static __typeof__(name) *s_##name;
S_FUNCS(S_PTR)
S_VOIDS(S_PTR)
S_OTHERS(S_PTR)

static const struct {
	int lib;
	const char *name;
	void **slot;
} s_syms[] = {
#define S_ROW(lib, ret, name, params, args) {lib, #name, (void **)&s_##name},
	S_FUNCS(S_ROW) S_VOIDS(S_ROW) S_OTHERS(S_ROW)
};

static int s_opened;

int nb_serve_libs_open(char *err, size_t errlen)
{
	void *h[S_NLIBS];

	if (s_opened)
		return 0;
	for (int i = 0; i < S_NLIBS; i++) {
		h[i] = dlopen(s_soname[i], RTLD_NOW | RTLD_LOCAL);
		if (!h[i]) {
			snprintf(err, errlen, "cannot load %s: %s", s_soname[i], dlerror());
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(s_syms) / sizeof(s_syms[0]); i++) {
		*s_syms[i].slot = dlsym(h[s_syms[i].lib], s_syms[i].name);
		if (!*s_syms[i].slot) {
			snprintf(err, errlen, "%s has no %s", s_soname[s_syms[i].lib],
				 s_syms[i].name);
			return -1;
		}
	}
	s_opened = 1;
	return 0;
}

/* A call before serve opened the libraries (a path that forgot to): open them now, or exit. */
static void s_need(void)
{
	char err[256];

	if (s_opened || !nb_serve_libs_open(err, sizeof(err)))
		return;
	nb_err("%s", err);
	exit(NB_EXIT_ERR);
}

#define S_STUB(lib, ret, name, params, args)                                                       \
	ret name params                                                                            \
	{                                                                                          \
		s_need();                                                                          \
		return s_##name args;                                                              \
	}
#define S_VSTUB(lib, ret, name, params, args)                                                      \
	ret name params                                                                            \
	{                                                                                          \
		s_need();                                                                          \
		s_##name args;                                                                     \
	}
S_FUNCS(S_STUB)
S_VOIDS(S_VSTUB)

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
				    MHD_AcceptPolicyCallback apc, void *apc_cls,
				    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	s_need();
	va_start(ap, dh_cls);
	d = s_MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

/* The info types the agent asks for take no further argument. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d,
						enum MHD_DaemonInfoType type, ...)
{
	s_need();
	return s_MHD_get_daemon_info(d, type);
}
