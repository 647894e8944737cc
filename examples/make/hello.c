#include <stdio.h>

int main(void) {
    puts("hello from a build warden watched");
    return 0;
}
