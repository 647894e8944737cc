/* Benchmark load: N opens (and closes) cycling over F files in DIR. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: opens DIR FILES COUNT\n");
        return 2;
    }
    int files = atoi(argv[2]);
    long count = atol(argv[3]);
    char path[4096];
    for (long i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/f%ld", argv[1], i % files);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    return 0;
}
