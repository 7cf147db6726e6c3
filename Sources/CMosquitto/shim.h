#ifndef PUSHGATE_CMOSQUITTO_SHIM_H
#define PUSHGATE_CMOSQUITTO_SHIM_H
// libmosquitto from Debian's libmosquitto-dev (2.0.x): the MQTT 3.1.1/5 client.
#include <mosquitto.h>
#include <mqtt_protocol.h>

#ifdef __linux__
#include <sys/prctl.h>
/// Names the calling thread (at most 15 bytes show) for top, perf and /proc: the network thread
/// would otherwise carry the name of whichever thread started it. (prctl is variadic, which
/// Swift cannot call.)
static inline void pushgate_name_current_thread(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#else
static inline void pushgate_name_current_thread(const char *name) { (void)name; }
#endif
#endif
