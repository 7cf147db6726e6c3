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
 * Both give up after 120 s so a benchmark never hangs.
 */
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

static struct mosquitto *connect_to(const char *host, int port, const char *role) {
    /* Unique per process: several subscribers run at once, and a shared id would take over. */
    char id[64];
    snprintf(id, sizeof id, "ceiling-%s-%d", role, (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    return m;
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

    if (strcmp(argv[1], "sub") == 0) {
        struct mosquitto *m = connect_to(host, port, "sub");
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
    struct mosquitto *m = connect_to(host, port, "pub");
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
