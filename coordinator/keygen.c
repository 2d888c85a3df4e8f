// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netblame keygen --out DIR [--force]: writes DIR/netblame.key (secret, 0600) and
 * DIR/netblame.pub and prints where the public key is and its fingerprint, which is what an
 * operator compares when adding the key to an agent's authorized-keys file.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "coord.h"
#include "nb_keys.h"

static void s_keygen_usage(FILE *f)
{
	fprintf(f, "usage: netblame keygen --out DIR [--force]\n"
		   "  -o, --out DIR   write DIR/" NB_KEY_SEC_FILE
		   " (secret, mode 0600) and DIR/" NB_KEY_PUB_FILE "\n"
		   "  -f, --force     replace an existing keypair\n"
		   "  -h, --help      this text\n");
}

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
	static const struct option lopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char spath[PATH_MAX], ppath[PATH_MAX], fpr[NB_KEY_FPR_LEN + 1];
	struct nb_keypair kp;
	const char *dir = NULL;
	bool force = false;
	int c, err;

	opterr = 0; /* our own one-line messages instead of getopt's */
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:fh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			s_keygen_usage(stdout);
			return NB_CEXIT_OK;
		case ':':
			nb_cerr("keygen: option '%s' needs a value", argv[optind - 1]);
			return NB_CEXIT_USAGE;
		default:
			if (optopt)
				nb_cerr(
				    "keygen: unknown option '-%c' (see 'netblame keygen --help')",
				    optopt);
			else
				nb_cerr(
				    "keygen: unknown option '%s' (see 'netblame keygen --help')",
				    argv[optind - 1]);
			return NB_CEXIT_USAGE;
		}
	}
	if (optind < argc) {
		nb_cerr("keygen: unexpected argument '%s'", argv[optind]);
		return NB_CEXIT_USAGE;
	}
	if (!dir || !*dir) {
		nb_cerr("keygen: --out DIR is required");
		return NB_CEXIT_USAGE;
	}
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
