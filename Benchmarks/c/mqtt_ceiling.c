/*
 * The broker's own ceiling, measured with libmosquitto driven from C as efficiently as it
 * goes: one thread, no cross-thread wake-ups, a window of QoS 1 publishes in flight.
 *
 *   mqtt_ceiling sub HOST PORT TOPIC COUNT [LOG]    subscribe (QoS 1), print "ready", count
 *                                                   COUNT messages, print "received N in S s";
 *                                                   with LOG, write "<message-id> <realtime us>"
 *                                                   per message that has a message-id property
 *   mqtt_ceiling pub HOST PORT TOPIC COUNT SIZE WINDOW
 *                                                   publish COUNT messages of SIZE bytes,
 *                                                   QoS 1, at most WINDOW awaiting PUBACK;
 *                                                   print "acked N in S s"
 *   mqtt_ceiling poll HOST PORT TOPIC COUNT SIZE WINDOW PUBLISHERS
 *                                                   both sides in one process and one thread:
 *                                                   PUBLISHERS publisher connections and one
 *                                                   subscriber, driven by one hand-written poll()
 *                                                   loop (mosquitto_loop_read/_write/_misc, no
 *                                                   timeouts between them); WINDOW split between
 *                                                   the publishers; print "received N in S s"
 * All give up after 120 s so a benchmark never hangs. The benchmark runs several shapes and
 * takes the best as the broker's ceiling (a weak client would flatter every ratio against it).
 */
#include <poll.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long target, received, acked, inflight;
static double first_at, last_at;
static int subscribed;

static FILE *id_log;

static long long realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg, const mosquitto_property *props) {
    (void)m; (void)u; (void)msg;
    if (id_log) {
        long long at = realtime_us();
        char *name = NULL, *value = NULL;
        const mosquitto_property *p = props;
        int first = 1;
        while ((p = mosquitto_property_read_string_pair(first ? props : p, MQTT_PROP_USER_PROPERTY, &name, &value, !first))) {
            first = 0;
            if (strcmp(name, "message-id") == 0) fprintf(id_log, "%s %lld\n", value, at);
            free(name);
            free(value);
            name = value = NULL;
        }
    }
    double t = now();
    if (received == 0) first_at = t;
    last_at = t;
    received++;
}

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *q) {
    (void)m; (void)u; (void)mid; (void)n; (void)q;
    subscribed = 1;
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
    (void)m; (void)u; (void)mid;
    acked++;
    inflight--;
}

static struct mosquitto *connect_to(const char *host, int port, const char *role, int index, void *userdata) {
    /* Unique per process and connection: several clients run at once, and a shared id would take over. */
    char id[64];
    snprintf(id, sizeof id, "ceiling-%s%d-%d", role, index, (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, userdata);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    return m;
}

/* One connection of the poll shape: its own count of publishes awaiting PUBACK. */
struct client {
    struct mosquitto *m;
    long inflight;
};

static void on_poll_publish(struct mosquitto *m, void *u, int mid) {
    (void)m; (void)mid;
    ((struct client *)u)->inflight--;
    acked++;
}

/* Services every connection once: poll for readiness, then read, write and housekeeping. */
static void poll_once(struct client *clients, int n, int timeout_ms) {
    struct pollfd fds[64];
    for (int i = 0; i < n; i++) {
        fds[i].fd = mosquitto_socket(clients[i].m);
        fds[i].events = POLLIN | (mosquitto_want_write(clients[i].m) ? POLLOUT : 0);
        fds[i].revents = 0;
    }
    poll(fds, n, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) mosquitto_loop_read(clients[i].m, 1);
        if (mosquitto_want_write(clients[i].m)) mosquitto_loop_write(clients[i].m, 1);
        mosquitto_loop_misc(clients[i].m);
    }
}

static int run_poll(const char *host, int port, const char *topic, int size, long window, int publishers, double deadline) {
    if (publishers < 1 || publishers > 32) return 2;
    char *payload = malloc(size);
    memset(payload, 0x5A, size);
    struct client clients[33];
    int n = publishers + 1;
    /* clients[0] subscribes; the rest publish. */
    clients[0].m = connect_to(host, port, "sub", 0, &clients[0]);
    clients[0].inflight = 0;
    mosquitto_message_v5_callback_set(clients[0].m, on_message);
    mosquitto_subscribe_callback_set(clients[0].m, on_subscribe);
    for (int i = 1; i < n; i++) {
        clients[i].m = connect_to(host, port, "pub", i, &clients[i]);
        clients[i].inflight = 0;
        mosquitto_publish_callback_set(clients[i].m, on_poll_publish);
    }
    mosquitto_subscribe(clients[0].m, NULL, topic, 1);
    while (!subscribed && now() < deadline) poll_once(clients, n, 10);
    for (int i = 0; i < 20; i++) poll_once(clients, n, 5);   /* every CONNACK in */
    long per_publisher = window / publishers > 0 ? window / publishers : 1;
    long sent = 0;
    while (received < target && now() < deadline) {
        for (int i = 1; i < n && sent < target; i++) {
            while (sent < target && clients[i].inflight < per_publisher) {
                if (mosquitto_publish(clients[i].m, NULL, topic, size, payload, 1, false) != MOSQ_ERR_SUCCESS) break;
                clients[i].inflight++;
                sent++;
            }
        }
        poll_once(clients, n, 100);
    }
    printf("received %ld in %.6f s\n", received, last_at - first_at);
    for (int i = 0; i < n; i++) mosquitto_disconnect(clients[i].m);
    return received == target ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s sub|pub HOST PORT TOPIC COUNT [SIZE WINDOW]\n", argv[0]);
        return 2;
    }
    mosquitto_lib_init();
    const char *host = argv[2];
    int port = atoi(argv[3]);
    const char *topic = argv[4];
    target = atol(argv[5]);
    double deadline = now() + 120;

    if (strcmp(argv[1], "poll") == 0) {
        if (argc < 9) return 2;
        return run_poll(host, port, topic, atoi(argv[6]), atol(argv[7]), atoi(argv[8]), deadline);
    }

    if (strcmp(argv[1], "sub") == 0) {
        struct mosquitto *m = connect_to(host, port, "sub", 0, NULL);
        if (argc > 6) {
            if (!(id_log = fopen(argv[6], "w"))) { perror(argv[6]); return 1; }
            setvbuf(id_log, NULL, _IOLBF, 0);     /* complete lines even when stopped by a signal */
        }
        mosquitto_message_v5_callback_set(m, on_message);
        mosquitto_subscribe_callback_set(m, on_subscribe);
        mosquitto_subscribe(m, NULL, topic, 1);
        while (!subscribed && now() < deadline) mosquitto_loop(m, 100, 1);
        printf("ready\n");
        fflush(stdout);
        while (received < target && now() < deadline) mosquitto_loop(m, 100, 1);
        printf("received %ld in %.6f s\n", received, last_at - first_at);
        if (id_log) fclose(id_log);
        return received == target ? 0 : 1;
    }

    if (argc < 8) return 2;
    int size = atoi(argv[6]);
    long window = atol(argv[7]);
    char *payload = malloc(size);
    memset(payload, 0x5A, size);
    struct mosquitto *m = connect_to(host, port, "pub", 0, NULL);
    mosquitto_publish_callback_set(m, on_publish);
    /* Wait for CONNACK (it carries the broker's receive maximum). */
    while (mosquitto_loop(m, 10, 1) == MOSQ_ERR_SUCCESS && now() < deadline) {
        if (mosquitto_want_write(m) == false) break;
    }
    for (int i = 0; i < 20; i++) mosquitto_loop(m, 5, 1);
    long sent = 0;
    double start = now();
    while (acked < target && now() < deadline) {
        while (sent < target && inflight < window) {
            if (mosquitto_publish(m, NULL, topic, size, payload, 1, false) != MOSQ_ERR_SUCCESS) break;
            sent++;
            inflight++;
        }
        mosquitto_loop(m, 100, 1);
    }
    double elapsed = now() - start;
    printf("acked %ld in %.6f s\n", acked, elapsed);
    mosquitto_disconnect(m);
    return acked == target ? 0 : 1;
}
