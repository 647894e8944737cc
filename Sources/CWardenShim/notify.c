/* seccomp user notification, the agent's side: receive a notification, check it is still
 * pending, answer it. The kernel's structures may grow: their sizes come from
 * SECCOMP_GET_NOTIF_SIZES, never from this header's sizeof. */
#ifndef _GNU_SOURCE /* Package.swift defines it for the target */
#define _GNU_SOURCE
#endif
#include "CWardenShim.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct seccomp_notif_sizes sizes;

static int load_sizes(void) {
    if (sizes.seccomp_notif) return 0;
    struct seccomp_notif_sizes s;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) < 0) return -errno;
    if (s.seccomp_notif < sizeof(struct seccomp_notif)) s.seccomp_notif = sizeof(struct seccomp_notif);
    if (s.seccomp_notif_resp < sizeof(struct seccomp_notif_resp)) s.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
    sizes = s;
    return 0;
}

int warden_notify_recv(int listener, int timeout_ms, struct warden_notification *out) {
    int rc = load_sizes();
    if (rc < 0) return rc;
    struct pollfd p = {listener, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    if (n == 0) return 0;
    if (p.revents & (POLLHUP | POLLERR) && !(p.revents & POLLIN)) return -EPIPE; /* every filter user is gone */
    struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
    if (!req) return -ENOMEM;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
        int e = errno;
        free(req);
        return e == EINTR ? 0 : -e;
    }
    out->id = req->id;
    out->pid = req->pid;
    out->nr = req->data.nr;
    memcpy(out->args, req->data.args, sizeof out->args);
    free(req);
    return 1;
}

int warden_notify_id_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0 ? -errno : 0;
}

int warden_notify_respond(int listener, uint64_t id, int allow, int error) {
    int rc = load_sizes();
    if (rc < 0) return rc;
    struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
    if (!resp) return -ENOMEM;
    resp->id = id;
    if (allow) {
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else {
        resp->error = -error;
    }
    rc = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 ? -errno : 0;
    free(resp);
    return rc;
}
