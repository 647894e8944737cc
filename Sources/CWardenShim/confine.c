/* Landlock and seccomp, prepared in the parent. The child only calls
 * landlock_restrict_self() and installs the exported seccomp program (libseccomp must
 * not run after fork). Landlock structures are declared here, not taken from
 * <linux/landlock.h>, because distribution headers lag the kernel's ABI (1…7). */
#include "CWardenShim.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct warden_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct warden_ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define WARDEN_LL_RULE_PATH_BENEATH 1
#define WARDEN_LL_CREATE_VERSION (1U << 0)

/* Where the build machine's header knows a right, our copy must agree with it. */
#if __has_include(<linux/landlock.h>)
#include <linux/landlock.h>
_Static_assert(WARDEN_LL_EXECUTE == LANDLOCK_ACCESS_FS_EXECUTE, "Landlock EXECUTE");
_Static_assert(WARDEN_LL_WRITE_FILE == LANDLOCK_ACCESS_FS_WRITE_FILE, "Landlock WRITE_FILE");
_Static_assert(WARDEN_LL_READ_FILE == LANDLOCK_ACCESS_FS_READ_FILE, "Landlock READ_FILE");
_Static_assert(WARDEN_LL_READ_DIR == LANDLOCK_ACCESS_FS_READ_DIR, "Landlock READ_DIR");
_Static_assert(WARDEN_LL_REMOVE_DIR == LANDLOCK_ACCESS_FS_REMOVE_DIR, "Landlock REMOVE_DIR");
_Static_assert(WARDEN_LL_REMOVE_FILE == LANDLOCK_ACCESS_FS_REMOVE_FILE, "Landlock REMOVE_FILE");
_Static_assert(WARDEN_LL_MAKE_CHAR == LANDLOCK_ACCESS_FS_MAKE_CHAR, "Landlock MAKE_CHAR");
_Static_assert(WARDEN_LL_MAKE_DIR == LANDLOCK_ACCESS_FS_MAKE_DIR, "Landlock MAKE_DIR");
_Static_assert(WARDEN_LL_MAKE_REG == LANDLOCK_ACCESS_FS_MAKE_REG, "Landlock MAKE_REG");
_Static_assert(WARDEN_LL_MAKE_SOCK == LANDLOCK_ACCESS_FS_MAKE_SOCK, "Landlock MAKE_SOCK");
_Static_assert(WARDEN_LL_MAKE_FIFO == LANDLOCK_ACCESS_FS_MAKE_FIFO, "Landlock MAKE_FIFO");
_Static_assert(WARDEN_LL_MAKE_BLOCK == LANDLOCK_ACCESS_FS_MAKE_BLOCK, "Landlock MAKE_BLOCK");
_Static_assert(WARDEN_LL_MAKE_SYM == LANDLOCK_ACCESS_FS_MAKE_SYM, "Landlock MAKE_SYM");
#ifdef LANDLOCK_ACCESS_FS_REFER
_Static_assert(WARDEN_LL_REFER == LANDLOCK_ACCESS_FS_REFER, "Landlock REFER");
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
_Static_assert(WARDEN_LL_TRUNCATE == LANDLOCK_ACCESS_FS_TRUNCATE, "Landlock TRUNCATE");
#endif
#ifdef LANDLOCK_ACCESS_FS_IOCTL_DEV
_Static_assert(WARDEN_LL_IOCTL_DEV == LANDLOCK_ACCESS_FS_IOCTL_DEV, "Landlock IOCTL_DEV");
#endif
#ifdef LANDLOCK_SCOPE_SIGNAL
_Static_assert(WARDEN_LL_SCOPE_ABSTRACT_UNIX_SOCKET == LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, "Landlock scope");
_Static_assert(WARDEN_LL_SCOPE_SIGNAL == LANDLOCK_SCOPE_SIGNAL, "Landlock scope");
#endif
#endif

int warden_landlock_abi(void) {
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, WARDEN_LL_CREATE_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

int warden_mount_setattr_supported(void) {
    /* An invalid descriptor: EBADF where the call exists, ENOSYS before Linux 5.12. */
    return syscall(442 /* mount_setattr */, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS ? 0 : 1;
}

int warden_landlock_create(uint64_t handled_fs, uint64_t scoped, int abi) {
    /* Fields newer than the kernel's ABI must be zero; pass only what it knows. */
    struct warden_ll_ruleset_attr attr = {handled_fs, 0, abi >= 6 ? scoped : 0};
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 16 : 8;
    long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0) return -errno;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

int warden_landlock_add_path(int ruleset_fd, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        /* Directory-only rights are invalid on a file (EINVAL): keep the file ones. */
        access &= WARDEN_LL_FILE_RIGHTS;
    }
    struct warden_ll_path_beneath rule = {access, fd};
    int rc = syscall(__NR_landlock_add_rule, ruleset_fd, WARDEN_LL_RULE_PATH_BENEATH, &rule, 0) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int warden_landlock_restrict(int ruleset_fd) {
    return syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0 ? -errno : 0;
}

int warden_seccomp_resolve(const char *name) {
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR ? -ENOENT : nr;
}

int warden_seccomp_resolve_arch(const char *name, const char *arch) {
    uint32_t token = seccomp_arch_resolve_name(arch);
    if (token == 0) return -EINVAL;
    int nr = seccomp_syscall_resolve_name_arch(token, name);
    /* libseccomp gives calls absent from this architecture negative pseudo-numbers. */
    if (nr == __NR_SCMP_ERROR) return -ENOENT;
    return nr < 0 ? -ENOSYS : nr;
}

int warden_seccomp_name(int nr, char *buf, size_t len) {
    if (len == 0) return -EINVAL;
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (!name) return -ENOENT;
    snprintf(buf, len, "%s", name);
    free(name);
    return 0;
}

int warden_seccomp_build(uint32_t default_action, const struct warden_seccomp_rule *rules, int count,
                         struct warden_bpf_program *out, int *failed_rule) {
    memset(out, 0, sizeof *out);
    *failed_rule = -1;
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx) return -EINVAL;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        /* libseccomp refuses a rule that repeats the default action; it changes nothing. */
        if (rules[i].action == default_action) continue;
        struct scmp_arg_cmp cmp[6];
        uint32_t n = rules[i].arg_count > 6 ? 6 : rules[i].arg_count;
        for (uint32_t j = 0; j < n; j++) {
            cmp[j].arg = rules[i].args[j].index;
            cmp[j].op = (enum scmp_compare)rules[i].args[j].op;
            cmp[j].datum_a = rules[i].args[j].value;
            cmp[j].datum_b = rules[i].args[j].value_two;
        }
        rc = seccomp_rule_add_array(ctx, rules[i].action, rules[i].nr, n, cmp);
        if (rc != 0) *failed_rule = i;
    }
    int mfd = -1;
    if (rc == 0) {
        mfd = memfd_create("warden-seccomp", MFD_CLOEXEC);
        if (mfd < 0) rc = -errno;
    }
    if (rc == 0) rc = seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    if (rc != 0) {
        if (mfd >= 0) close(mfd);
        return rc;
    }
    off_t size = lseek(mfd, 0, SEEK_END);
    if (size <= 0 || size % 8 != 0) {
        close(mfd);
        return -EINVAL;
    }
    unsigned char *buf = malloc((size_t)size);
    if (!buf) {
        close(mfd);
        return -ENOMEM;
    }
    ssize_t got = pread(mfd, buf, (size_t)size, 0);
    close(mfd);
    if (got != size) {
        free(buf);
        return -EIO;
    }
    out->instructions = buf;
    out->count = (uint16_t)(size / 8);
    return 0;
}

void warden_bpf_program_free(struct warden_bpf_program *p) {
    free(p->instructions);
    p->instructions = NULL;
    p->count = 0;
}
