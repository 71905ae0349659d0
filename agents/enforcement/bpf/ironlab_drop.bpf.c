// SPDX-License-Identifier: GPL-2.0
// ironlab drop: an XDP program (preferred) and a tc cls_bpf direct-action filter (fallback) that drop IPv4 packets whose destination is a throttled
// owner. The agent adds/removes owner IPs in ironlab_drop (pinned by name, so every program loaded from this
// object shares it at /sys/fs/bpf/tc/globals/ironlab_drop) and reads per-owner drop counts from ironlab_dropcnt,
// which survives the owner leaving ironlab_drop. Built against UAPI headers only (tc loads it, not libbpf CO-RE).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define LIBBPF_PIN_BY_NAME 1

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);   // IPv4, network order
  __type(value, __u32); // 1 = drop
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironlab_drop SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64); // packets dropped
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} ironlab_dropcnt SEC(".maps");

// The one decision both hooks share: is this frame an IPv4 packet to a flagged owner? (counted when it is)
static __always_inline int to_flagged_owner(void *data, void *end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return 0;
  __u32 daddr = ip->daddr;
  __u32 *on = bpf_map_lookup_elem(&ironlab_drop, &daddr);
  if (!on || !*on) return 0;
  __u64 *n = bpf_map_lookup_elem(&ironlab_dropcnt, &daddr);
  if (n) {
    __sync_fetch_and_add(n, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&ironlab_dropcnt, &daddr, &one, BPF_NOEXIST);
  }
  return 1;
}

// tc cls_bpf (fallback where XDP cannot attach): runs after an skb exists, on the core RPS chose.
SEC("tc")
int ironlab_tc_drop(struct __sk_buff *skb) {
  return to_flagged_owner((void *)(long)skb->data, (void *)(long)skb->data_end) ? TC_ACT_SHOT : TC_ACT_OK;
}

// XDP on the receiving device (a NIC, or the receiving end of a veth pair): runs in that device's NAPI poll,
// before an skb is built and before RPS moves the packet to another core. With no owner flagged it passes
// everything, so attaching it in every arm leaves only the decision different. xdp.frags: the peer of a veth
// keeps its GSO (a frags-unaware program would switch it off), so the TCP path stays as without XDP.
SEC("xdp.frags")
int ironlab_xdp_drop(struct xdp_md *ctx) {
  return to_flagged_owner((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
