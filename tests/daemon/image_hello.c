/* The one program of the tiny root filesystem that jobs_test.cc packs into an image: says where
   it runs and leaves a file in /out. Linked statically, so the image needs nothing else. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("hello from the image as uid %d\n", (int)getuid());
  printf("the host's /etc/hostname is %s\n", access("/etc/hostname", F_OK) == 0 ? "visible" : "not here");
  FILE* out = fopen("/out/made-in-image", "w");
  if (out == NULL) {
    perror("/out/made-in-image");
    return 2;
  }
  fputs("ok\n", out);
  return fclose(out) == 0 ? 0 : 3;
}
