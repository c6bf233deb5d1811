/* The "distroless" test workload: a static HTTP/1.0 server and nothing else in its image (no shell, no tools).
 * Serves GET <anything> with the contents of $MESSAGE_FILE (default /app/message) on $PORT (default 8080).
 * Built with `gcc -static -Os` by scripts/cluster/images.sh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  const char *portenv = getenv("PORT");
  const char *file = getenv("MESSAGE_FILE");
  int port = portenv ? atoi(portenv) : 8080;
  if (!file) file = "/app/message";
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) { perror("listen"); return 1; }
  printf("tinyhttp listening on :%d serving %s\n", port, file);
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char req[1024];
    (void)read(c, req, sizeof req);
    char body[4096];
    size_t n = 0;
    FILE *f = fopen(file, "r");
    if (f) { n = fread(body, 1, sizeof body, f); fclose(f); }
    char head[128];
    int h = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
    (void)write(c, head, h);
    (void)write(c, body, n);
    close(c);
    printf("served a request\n");
    fflush(stdout);
  }
}
