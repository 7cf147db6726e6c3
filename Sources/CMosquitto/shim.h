#ifndef PUSHGATE_CMOSQUITTO_SHIM_H
#define PUSHGATE_CMOSQUITTO_SHIM_H
// libmosquitto from Debian's libmosquitto-dev (2.0.x): the MQTT 3.1.1/5 client.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
