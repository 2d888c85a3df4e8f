// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * CURVE key files (see nb_keys.h). libzmq generates and z85-codes the keys; OpenSSL hashes them
 * for fingerprints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zmq.h>

#include "nb_keys.h"

#define S_KEYFILE_MAX  4096 /* a key file is 41 bytes; anything much bigger is not one */
#define S_AUTHFILE_MAX (1u << 20)
#define S_LINE_MAX     1024

static const char s_z85_alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool nb_keys_curve_available(void)
{
	return zmq_has("curve") == 1;
}

int nb_keys_parse(const char *z85, size_t len, struct nb_ckey *key)
{
	char again[NB_KEY_Z85_LEN + 1];

	if (!z85 || !key || len != NB_KEY_Z85_LEN)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!z85[i] || !strchr(s_z85_alphabet, z85[i]))
			return -EINVAL;
	memcpy(key->z85, z85, len);
	key->z85[len] = '\0';
	if (!zmq_z85_decode(key->raw, key->z85))
		goto bad;
	/*
	 * Five z85 digits can spell values above 2^32 - 1; libzmq versions differ in whether they
	 * catch that. Encoding back and comparing makes one key have exactly one spelling.
	 */
	if (!zmq_z85_encode(again, key->raw, NB_KEY_RAW_LEN) || strcmp(again, key->z85))
		goto bad;
	return 0;
bad:
	explicit_bzero(key, sizeof(*key));
	return -EINVAL;
}

int nb_keys_generate(struct nb_keypair *kp)
{
	char pub[NB_KEY_Z85_LEN + 1], sec[NB_KEY_Z85_LEN + 1];
	int err;

	if (!kp)
		return -EINVAL;
	if (!nb_keys_curve_available())
		return -EOPNOTSUPP;
	if (zmq_curve_keypair(pub, sec))
		return errno ? -errno : -EIO;
	err = nb_keys_parse(pub, NB_KEY_Z85_LEN, &kp->pub);
	if (!err)
		err = nb_keys_parse(sec, NB_KEY_Z85_LEN, &kp->sec);
	explicit_bzero(sec, sizeof(sec));
	if (err)
		explicit_bzero(kp, sizeof(*kp));
	return err;
}

int nb_keys_public_of(const struct nb_ckey *sec, struct nb_ckey *pub)
{
	char z85[NB_KEY_Z85_LEN + 1];

	if (!sec || !pub)
		return -EINVAL;
	if (!nb_keys_curve_available())
		return -EOPNOTSUPP;
	if (zmq_curve_public(z85, sec->z85))
		return errno ? -errno : -EIO;
	return nb_keys_parse(z85, NB_KEY_Z85_LEN, pub);
}

int nb_keys_path(char *out, size_t size, const char *dir, const char *name)
{
	size_t dl;
	int n;

	if (!out || !dir || !name || !*dir)
		return -EINVAL;
	/* "DIR/" should not print as "DIR//netblame.pub" */
	dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	n = snprintf(out, size, "%.*s%s%s", (int)dl, dir, dir[dl - 1] == '/' ? "" : "/", name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int s_write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= n;
	}
	/* A key that the caller was told is written must survive a crash right after. */
	return fsync(fd) ? -errno : 0;
}

/* Creates path, failing with -EEXIST if anything (a symlink included) is there. */
static int s_write_new(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int err;

	if (fd < 0)
		return -errno;
	err = s_write_all(fd, data, len);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

/* Writes a temporary file next to path; *tmp holds its name for the rename. */
static int s_write_tmp(const char *dir, const char *name, const char *data, size_t len, mode_t mode,
		       char *tmp, size_t tmpsize)
{
	char base[64];
	int fd, err;

	snprintf(base, sizeof(base), ".%s.XXXXXX", name);
	err = nb_keys_path(tmp, tmpsize, dir, base);
	if (err)
		return err;
	fd = mkostemp(tmp, O_CLOEXEC); /* created 0600: never wider than wanted, even briefly */
	if (fd < 0)
		return -errno;
	err = fchmod(fd, mode) ? -errno : 0;
	if (!err)
		err = s_write_all(fd, data, len);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void s_key_line(const struct nb_ckey *k, char line[NB_KEY_Z85_LEN + 2])
{
	memcpy(line, k->z85, NB_KEY_Z85_LEN);
	line[NB_KEY_Z85_LEN] = '\n';
	line[NB_KEY_Z85_LEN + 1] = '\0';
}

int nb_keys_write(const char *dir, const struct nb_keypair *kp, bool force)
{
	char spath[PATH_MAX], ppath[PATH_MAX], stmp[PATH_MAX], ptmp[PATH_MAX];
	char sline[NB_KEY_Z85_LEN + 2], pline[NB_KEY_Z85_LEN + 2];
	int err;

	if (!dir || !kp)
		return -EINVAL;
	if ((err = nb_keys_path(spath, sizeof(spath), dir, NB_KEY_SEC_FILE)) ||
	    (err = nb_keys_path(ppath, sizeof(ppath), dir, NB_KEY_PUB_FILE)))
		return err;
	s_key_line(&kp->sec, sline);
	s_key_line(&kp->pub, pline);

	if (!force) {
		err = s_write_new(spath, sline, NB_KEY_Z85_LEN + 1, 0600);
		if (!err) {
			err = s_write_new(ppath, pline, NB_KEY_Z85_LEN + 1, 0644);
			if (err) /* a secret without its public key is only confusing */
				unlink(spath);
		}
		goto out;
	}

	/* Both temporaries first, so a failure leaves the old pair as it was. */
	err =
	    s_write_tmp(dir, NB_KEY_SEC_FILE, sline, NB_KEY_Z85_LEN + 1, 0600, stmp, sizeof(stmp));
	if (err)
		goto out;
	err =
	    s_write_tmp(dir, NB_KEY_PUB_FILE, pline, NB_KEY_Z85_LEN + 1, 0644, ptmp, sizeof(ptmp));
	if (err) {
		unlink(stmp);
		goto out;
	}
	if (rename(stmp, spath)) {
		err = -errno;
		unlink(stmp);
		unlink(ptmp);
		goto out;
	}
	if (rename(ptmp, ppath)) {
		err = -errno;
		unlink(ptmp);
	}
out:
	explicit_bzero(sline, sizeof(sline));
	return err;
}

/* Reads a whole regular file of at most max bytes into a new buffer (NUL-terminated). */
static int s_slurp(const char *path, size_t max, bool secret, char **out, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf = NULL;
	int fd, err = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		err = -EPERM;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc(max + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	/* Read to EOF rather than trusting st_size: the file may change under us. */
	for (;;) {
		ssize_t n = read(fd, buf + got, max + 1 - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (!n)
			break;
		got += n;
		if (got > max) {
			err = -EFBIG;
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, max + 1);
		free(buf);
	}
	close(fd);
	return err;
}

static int s_read_key(const char *path, bool secret, struct nb_ckey *key)
{
	size_t len;
	char *buf;
	int err;

	if (!path || !key)
		return -EINVAL;
	err = s_slurp(path, S_KEYFILE_MAX, secret, &buf, &len);
	if (err)
		return err;
	if (len == NB_KEY_Z85_LEN + 1 && buf[NB_KEY_Z85_LEN] == '\n')
		len--;
	err = nb_keys_parse(buf, len, key);
	explicit_bzero(buf, len);
	free(buf);
	return err;
}

int nb_keys_read_public(const char *path, struct nb_ckey *key)
{
	return s_read_key(path, false, key);
}

int nb_keys_read_secret(const char *path, struct nb_ckey *key)
{
	return s_read_key(path, true, key);
}

int nb_keys_fingerprint(const uint8_t raw[NB_KEY_RAW_LEN], char out[NB_KEY_FPR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *p;

	if (!raw || !out)
		return -EINVAL;
	if (!EVP_Digest(raw, NB_KEY_RAW_LEN, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	p = stpcpy(out, "SHA256:");
	for (unsigned int i = 0; i < mdlen; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0x0f];
	}
	*p = '\0';
	return 0;
}

static bool s_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line of an authorized-keys file (without its '\n'). */
static int s_auth_line(struct nb_authkeys *ak, const char *s, size_t len, const char **what)
{
	struct nb_authkey k;
	struct nb_ckey key;
	size_t i = 0, tok, lab, lend = len;

	if (memchr(s, '\0', len)) {
		*what = "NUL byte";
		return -EINVAL;
	}
	if (len > S_LINE_MAX) {
		*what = "line too long";
		return -EINVAL;
	}
	while (i < len && s_blank(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	tok = i;
	while (i < len && !s_blank(s[i]))
		i++;
	if (nb_keys_parse(s + tok, i - tok, &key)) {
		*what = "not a z85 public key (40 characters of the z85 alphabet)";
		return -EINVAL;
	}
	while (i < len && s_blank(s[i]))
		i++;
	lab = i;
	while (lend > lab && s_blank(s[lend - 1]))
		lend--;
	memset(&k, 0, sizeof(k));
	memcpy(k.raw, key.raw, sizeof(k.raw));
	if (lend - lab > NB_AUTH_LABEL_MAX)
		lend = lab + NB_AUTH_LABEL_MAX;
	memcpy(k.label, s + lab, lend - lab);

	if (nb_authkeys_contains(ak, k.raw))
		return 0;
	if (ak->n == NB_AUTH_MAX_KEYS) {
		*what = "too many keys";
		return -E2BIG;
	}
	ak->keys[ak->n++] = k;
	return 0;
}

int nb_authkeys_load(const char *path, struct nb_authkeys **out, struct nb_keys_err *perr)
{
	struct nb_keys_err dummy;
	struct nb_authkeys *ak = NULL;
	const char *s, *end;
	unsigned int line = 0;
	size_t len, ll;
	char *buf;
	int err;

	if (!perr)
		perr = &dummy;
	perr->line = 0;
	perr->what = NULL;
	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	err = s_slurp(path, S_AUTHFILE_MAX, false, &buf, &len);
	if (err) {
		perr->what = err == -EFBIG ? "file too big" : "cannot read";
		return err;
	}
	ak = calloc(1, sizeof(*ak) + NB_AUTH_MAX_KEYS * sizeof(ak->keys[0]));
	if (!ak) {
		free(buf);
		return -ENOMEM;
	}
	for (s = buf, end = buf + len; s < end; s += ll + 1) {
		const char *nl = memchr(s, '\n', end - s);

		ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
		line++;
		err = s_auth_line(ak, s, ll, &perr->what);
		if (err) {
			perr->line = line;
			break;
		}
	}
	free(buf);
	if (err) {
		free(ak);
		return err;
	}
	*out = ak;
	return 0;
}

bool nb_authkeys_contains(const struct nb_authkeys *ak, const uint8_t raw[NB_KEY_RAW_LEN])
{
	/* Public keys are not secrets, so a plain memcmp (not constant time) is fine. */
	for (uint32_t i = 0; ak && i < ak->n; i++)
		if (!memcmp(ak->keys[i].raw, raw, NB_KEY_RAW_LEN))
			return true;
	return false;
}

void nb_authkeys_free(struct nb_authkeys **ak)
{
	if (!ak)
		return;
	free(*ak);
	*ak = NULL;
}
