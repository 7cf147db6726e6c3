/*
 * A fleet of MQTT 5 devices in one process, for the broadcast (admin route) benchmark: N
 * connections subscribed (QoS 1) to one topic, driven by one poll() loop.
 *
 *   mqtt_fleet HOST PORT TOPIC N ROUNDS self SIZE   the broker alone: after all subscribed, one
 *                                                   connection publishes SIZE bytes (QoS 1) per
 *                                                   round, the next round once all N have it;
 *                                                   prints "round K elapsed_us US"
 *   mqtt_fleet HOST PORT TOPIC N ROUNDS wait        someone else publishes: per round, prints
 *                                                   "round K last_us US" (CLOCK_REALTIME of the
 *                                                   N-th receipt) for the caller to subtract its
 *                                                   own send time
 * Prints "ready" once all N are subscribed. Gives up after 120 s so a benchmark never hangs.
 */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long received, subscribed, connected;
static long long last_us;

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
    (void)m; (void)u; (void)msg;
    received++;
    last_us = realtime_us();
}
static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *q) {
    (void)m; (void)u; (void)mid; (void)n; (void)q;
    subscribed++;
}
static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)u;
    if (rc != 0) { fprintf(stderr, "connect refused: %d\n", rc); exit(1); }
    connected++;
    mosquitto_subscribe(m, NULL, (const char *)mosquitto_userdata(m), 1);
}

static struct mosquitto **clients;
static struct pollfd *fds;
static int count;

/* One pass over every connection: wait up to timeout_ms for any socket, then read, write and
 * keep alive the ready ones. */
static void pump(int timeout_ms) {
    for (int i = 0; i < count; i++) {
        fds[i].fd = mosquitto_socket(clients[i]);
        fds[i].events = POLLIN | (mosquitto_want_write(clients[i]) ? POLLOUT : 0);
        fds[i].revents = 0;
    }
    poll(fds, count, timeout_ms);
    for (int i = 0; i < count; i++) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) mosquitto_loop_read(clients[i], 1);
        if (mosquitto_want_write(clients[i])) mosquitto_loop_write(clients[i], 1);
    }
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT TOPIC N ROUNDS self SIZE | wait\n", argv[0]);
        return 2;
    }
    mosquitto_lib_init();
    const char *host = argv[1];
    int port = atoi(argv[2]);
    char *topic = argv[3];
    count = atoi(argv[4]);
    int rounds = atoi(argv[5]);
    int self = strcmp(argv[6], "self") == 0;
    int size = self && argc > 7 ? atoi(argv[7]) : 0;
    double deadline = mono() + 120;
    clients = calloc(count, sizeof *clients);
    fds = calloc(count, sizeof *fds);
    for (int i = 0; i < count; i++) {
        char id[64];
        snprintf(id, sizeof id, "fleet-%d-%d", (int)getpid(), i);
        clients[i] = mosquitto_new(id, true, topic);
        mosquitto_int_option(clients[i], MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_connect_callback_set(clients[i], on_connect);
        mosquitto_subscribe_callback_set(clients[i], on_subscribe);
        mosquitto_message_callback_set(clients[i], on_message);
        if (mosquitto_connect(clients[i], host, port, 60) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "cannot connect device %d\n", i);
            return 1;
        }
    }
    while (subscribed < count && mono() < deadline) pump(100);
    if (subscribed < count) { fprintf(stderr, "only %ld of %d subscribed\n", subscribed, count); return 1; }
    printf("ready\n");
    fflush(stdout);

    char *payload = calloc(1, size > 0 ? size : 1);
    for (int round = 1; round <= rounds; round++) {
        long target = (long)round * count;
        double start = mono();
        if (self) mosquitto_publish(clients[0], NULL, topic, size, payload, 1, false);
        while (received < target && mono() < deadline) pump(100);
        if (received < target) { fprintf(stderr, "round %d: %ld of %ld received\n", round, received, target); return 1; }
        if (self) printf("round %d elapsed_us %lld\n", round, (long long)((mono() - start) * 1e6));
        else printf("round %d last_us %lld\n", round, last_us);
        fflush(stdout);
    }
    return 0;
}
