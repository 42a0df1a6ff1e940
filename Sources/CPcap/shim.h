#ifndef DICOMTAP_CPCAP_SHIM_H
#define DICOMTAP_CPCAP_SHIM_H

#include <pcap/pcap.h>

#endif
