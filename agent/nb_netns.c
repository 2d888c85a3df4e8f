// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int nb_netns_open(struct nb_netns *ns, const char *name_or_path, char *err, size_t errlen)
{
	char path[256];
	struct stat st;
	int fd;

	memset(ns, 0, sizeof(*ns));
	ns->fd = -1;
	if (!name_or_path) {
		if (stat("/proc/self/ns/net", &st) < 0) {
			snprintf(err, errlen, "cannot read own network namespace: %s",
				 strerror(errno));
			return -errno;
		}
		ns->inum = (uint32_t)st.st_ino;
		snprintf(ns->name, sizeof(ns->name), "(own)");
		return 0;
	}
	if (strchr(name_or_path, '/'))
		snprintf(path, sizeof(path), "%s", name_or_path);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name_or_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		/* Only a missing file is "not found": EACCES and the rest say what they are. */
		if (e == ENOENT)
			snprintf(err, errlen, "network namespace '%s' not found (%s: %s)",
				 name_or_path, path, strerror(e));
		else if (strcmp(name_or_path, path))
			snprintf(err, errlen, "cannot open network namespace '%s' (%s): %s",
				 name_or_path, path,
				 e == EACCES ? "permission denied" : strerror(e));
		else
			snprintf(err, errlen, "cannot open network namespace '%s': %s", path,
				 e == EACCES ? "permission denied" : strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(e));
		return -e;
	}
	ns->fd = fd;
	ns->inum = (uint32_t)st.st_ino;
	snprintf(ns->name, sizeof(ns->name), "%s", name_or_path);
	return 0;
}

void nb_netns_close(struct nb_netns *ns)
{
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -1;
}

int nb_netns_enter(const struct nb_netns *ns, int *self, char *err, size_t errlen)
{
	int rc;

	*self = -1;
	if (ns->fd < 0)
		return 0;
	*self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*self < 0 || setns(ns->fd, CLONE_NEWNET) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot enter network namespace %s: %s", ns->name,
			 strerror(errno));
		if (*self >= 0)
			close(*self);
		*self = -1;
		return rc;
	}
	return 0;
}

int nb_netns_leave(int self, int rc, char *err, size_t errlen)
{
	if (self < 0)
		return rc;
	/* Staying in the wrong namespace would misname everything after: fail loudly. */
	if (setns(self, CLONE_NEWNET) < 0 && !rc) {
		snprintf(err, errlen, "cannot return to own network namespace: %s",
			 strerror(errno));
		rc = -EIO;
	}
	close(self);
	return rc;
}

/*
 * Interface names are per namespace: switch this thread into the target namespace for the
 * lookups and back. The same name (and ifindex) exists in several namespaces in a lab and on
 * hypervisors with containers, which is why the filter also carries the namespace inode.
 */
int nb_netns_ifindex(const struct nb_netns *ns, char names[][16], int n, uint32_t *out, char *err,
		     size_t errlen)
{
	int self, rc;

	rc = nb_netns_enter(ns, &self, err, errlen);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		out[i] = if_nametoindex(names[i]);
		if (!out[i]) {
			snprintf(err, errlen, "unknown interface '%s'%s%s", names[i],
				 ns->fd >= 0 ? " in network namespace " : "",
				 ns->fd >= 0 ? ns->name : "");
			rc = -ENODEV;
			break;
		}
	}
	return nb_netns_leave(self, rc, err, errlen);
}

int nb_netns_ifname(const struct nb_netns *ns, uint32_t ifindex, char *buf)
{
	char err[8];
	int self, rc;

	rc = nb_netns_enter(ns, &self, err, sizeof(err));
	if (rc)
		return rc;
	if (!if_indextoname(ifindex, buf))
		rc = -ENODEV;
	return nb_netns_leave(self, rc, err, sizeof(err));
}

int nb_netns_driver(const struct nb_netns *ns, const char *ifname, char *buf, size_t len)
{
	struct ethtool_drvinfo di = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {0};
	char err[160];
	int self, fd, rc;

	rc = nb_netns_enter(ns, &self, err, sizeof(err));
	if (rc)
		return rc;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
	} else {
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		ifr.ifr_data = (void *)&di;
		rc = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
		close(fd);
	}
	rc = nb_netns_leave(self, rc, err, sizeof(err));
	if (!rc)
		snprintf(buf, len, "%.*s", (int)sizeof(di.driver), di.driver);
	return rc;
}

/*
 * The transmit queues a device was created with (IFLA_NUM_TX_QUEUES, fixed for its life; a tap
 * made without IFF_MULTI_QUEUE has one), by rtnetlink in the namespace. -errno.
 */
int nb_netns_txqueues(const struct nb_netns *ns, uint32_t ifindex, uint32_t *n)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg ifi;
	} req = {0};
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	char err[160];
	ssize_t len = 0;
	int self, fd, rc;

	*n = 0;
	rc = nb_netns_enter(ns, &self, err, sizeof(err));
	if (rc)
		return rc;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = (int)ifindex;
	if (fd < 0 || send(fd, &req, req.h.nlmsg_len, 0) < 0 ||
	    (len = recv(fd, buf, sizeof(buf), 0)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	rc = nb_netns_leave(self, rc, err, sizeof(err));
	if (rc)
		return rc;
	rc = -ENODATA;
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
	     h = NLMSG_NEXT(h, len)) {
		struct ifinfomsg *ifi = NLMSG_DATA(h);
		int alen = (int)IFLA_PAYLOAD(h);

		if (h->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error ?: -ENODATA;
		if (h->nlmsg_type != RTM_NEWLINK)
			continue;
		for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
			if (a->rta_type == IFLA_NUM_TX_QUEUES &&
			    RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
				memcpy(n, RTA_DATA(a), sizeof(*n));
				return 0;
			}
		}
	}
	return rc;
}
