// SPDX-License-Identifier: GPL-2.0
// ironlab drop: a tc cls_bpf direct-action filter that drops IPv4 packets whose destination is a throttled
// owner. The agent adds/removes owner IPs in ironlab_drop (pinned by name, so every filter loaded from this
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

SEC("tc")
int ironlab_tc_drop(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return TC_ACT_OK;
  __u32 daddr = ip->daddr;
  __u32 *on = bpf_map_lookup_elem(&ironlab_drop, &daddr);
  if (!on || !*on) return TC_ACT_OK;
  __u64 *n = bpf_map_lookup_elem(&ironlab_dropcnt, &daddr);
  if (n) {
    __sync_fetch_and_add(n, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&ironlab_dropcnt, &daddr, &one, BPF_NOEXIST);
  }
  return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
