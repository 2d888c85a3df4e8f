// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame keygen --out DIR [--force]: writes DIR/netblame.key (secret, 0600) and
 * DIR/netblame.pub and prints where the public key is and its fingerprint, which is what an
 * operator compares when adding the key to an agent's authorized-keys file.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "coord.h"
#include "nb_keys.h"
#include "nb_opts.h"

/* Names the file that made the write fail with EEXIST, for a message that says which. */
static const char *s_existing(const char *spath, const char *ppath)
{
	struct stat st;

	if (!lstat(spath, &st))
		return spath;
	if (!lstat(ppath, &st))
		return ppath;
	return spath;
}

int nb_cmd_keygen(int argc, char **argv)
{
	struct s_args {
		const char *dir;
		bool force, help;
	} a = {0};
	static const struct nb_optdef defs[] = {
		{"out", NB_OPTK_STR, offsetof(struct s_args, dir), 0, 0, "DIR",
		 "write DIR/" NB_KEY_SEC_FILE " (secret, mode 0600) and DIR/" NB_KEY_PUB_FILE, true},
		{"force", NB_OPTK_FLAG, offsetof(struct s_args, force), 0, 0, NULL,
		 "replace an existing keypair", false},
		{"help", NB_OPTK_FLAG, offsetof(struct s_args, help), 0, 0, NULL, "this text", false},
	};
	char spath[PATH_MAX], ppath[PATH_MAX], fpr[NB_KEY_FPR_LEN + 1], msg[256];
	struct nb_keypair kp;
	const char *dir;
	bool force;
	int err;

	if (nb_opts_parse_table(defs, sizeof(defs) / sizeof(defs[0]), argc, argv, 1, &a, &a.help,
				msg, sizeof(msg))) {
		nb_cerr("keygen: %s (see 'netblame keygen --help')", msg);
		return NB_CEXIT_USAGE;
	}
	if (a.help) {
		printf("usage: netblame keygen --out DIR [--force]\n");
		nb_opts_help_table(stdout, defs, sizeof(defs) / sizeof(defs[0]));
		return NB_CEXIT_OK;
	}
	dir = a.dir;
	force = a.force;
	if (nb_keys_path(spath, sizeof(spath), dir, NB_KEY_SEC_FILE) ||
	    nb_keys_path(ppath, sizeof(ppath), dir, NB_KEY_PUB_FILE)) {
		nb_cerr("keygen: %s: %s", dir, strerror(ENAMETOOLONG));
		return NB_CEXIT_USAGE;
	}
	if (!nb_keys_curve_available()) {
		nb_cerr("keygen: this libzmq was built without CURVE support");
		return NB_CEXIT_ERR;
	}

	/* A new key directory holds a secret: only its owner may list it. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		nb_cerr("keygen: cannot create %s: %s", dir, strerror(errno));
		return NB_CEXIT_ERR;
	}
	err = nb_keys_generate(&kp);
	if (err) {
		nb_cerr("keygen: cannot generate a keypair: %s", strerror(-err));
		return NB_CEXIT_ERR;
	}
	err = nb_keys_write(dir, &kp, force);
	if (!err)
		err = nb_keys_fingerprint(kp.pub.raw, fpr);
	explicit_bzero(&kp.sec, sizeof(kp.sec));
	if (err == -EEXIST) {
		nb_cerr("keygen: %s already exists (use --force to replace the keypair)",
			s_existing(spath, ppath));
		return NB_CEXIT_ERR;
	}
	if (err) {
		nb_cerr("keygen: cannot write the keypair in %s: %s", dir, strerror(-err));
		return NB_CEXIT_ERR;
	}
	printf("public key: %s\n", ppath);
	printf("fingerprint: %s\n", fpr);
	return fflush(stdout) ? NB_CEXIT_ERR : NB_CEXIT_OK;
}
