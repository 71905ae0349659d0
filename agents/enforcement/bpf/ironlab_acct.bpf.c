// SPDX-License-Identifier: GPL-2.0
// ironlab accounting: split every NET_RX / NET_TX softirq's time among the owners of the packets it processed,
// and remember whose task it interrupted (the kernel charges that task, as IRQ_TIME_ACCOUNTING is off).
//
// Interval attribution (research/ebpf-iron.md §4): the time between packet marker i and marker i+1 on a CPU is
// packet i's processing; the time before the first marker goes to the first packet's owner; the rest after the
// last marker to the last owner. A softirq without any IPv4 marker is unattributed (owner 0).
// Markers: receive = net:netif_receive_skb, owner = IPv4 destination; send = net:net_dev_start_xmit inside
// NET_TX, owner = IPv4 source (the sending container). Softirq vectors do not nest on one CPU, so per-CPU state
// needs no locks. Enqueues (netif_rx) are markers too (owner = the sender), see ironlab_enqueue. To keep the
// per-packet cost low, time accumulates in the per-CPU state, is flushed only when the owner changes or the
// softirq ends, and reaches the hash only when a key leaves the per-CPU pending slots.
// Only tp_btf programs: kprobes and fentry are unavailable on our kernels; tp_btf also skips TP_fast_assign.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

// IP_FIELD(p, f): field f of the IPv4 header at raw kernel pointer p (skb->data is not a typed pointer).
// Two variants of this one source (build.ts picks one per kernel, acctVariant):
#ifndef IRONLAB_PROBE_READ
// the kfunc bpf_rdonly_cast, a no-op cast the verifier inlines: plain fault-safe loads, no helper call per packet
// (Linux 6.2+, and kfuncs run only in JITed programs);
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define IP_FIELD(p, f) (((const struct iphdr *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(struct iphdr)))->f)
#else
// else one bpf_probe_read_kernel per field (CO-RE relocated), which also runs in the interpreter: the QEMU lab's
// 6.1 guests, whose kernel has no BPF JIT (testbed/kernel/README.md).
#define IP_FIELD(p, f) BPF_CORE_READ((const struct iphdr *)(p), f)
#endif

#define NET_TX 2
#define NET_RX 3
#define ETH_P_IP 0x0800

// Pending attribution, one key (who ran it, whose packets, which vector) per slot. A flush adds to the slot of
// its key and goes to the hash (ironlab_acct) only when no slot holds that key: the slot it replaces round-robin
// is written out first. A softirq usually alternates between few keys (a receiver's data and its sender's ACKs,
// on the same interrupted task), so nearly every flush stays here and costs no hash lookup. User space adds the
// slots when it reads (accounting.ts knows this layout: PENDING slots of 32 bytes, then the totals).
#define PENDING 4
struct pending {
  __u64 ctx;
  __u32 owner;
  __u32 vec; // 0 = empty
  __u64 ns;
  __u64 pkts;
};

struct cpu_state {
  struct pending p[PENDING];
  // Softirq time of this CPU by vector (NET_TX, NET_RX) as the entry/exit tracepoints measure it, attributed or
  // not. Kept here rather than in a map of its own to save a lookup per softirq.
  __u64 tot_tx;
  __u64 tot_rx;
  __u64 t_entry;   // softirq entry time
  __u64 t_last;    // last marker (or entry)
  __u64 acc;       // time accumulated for `owner` since the last flush
  __u64 ctx_cg;    // cpu-cgroup (v1 or v2 where the cpu controller lives) inode of the interrupted task
  __u32 owner;     // IPv4 (network order) of the current owner; 0 = unattributed
  __u32 vec;       // 0 = not inside a network softirq
  __u64 pkts;      // packets of `owner` since the last flush
  __u32 have;      // 1 once `owner` is known for this softirq
  __u32 enq_owner; // owner of the last packet enqueued on this CPU outside a softirq (see ironlab_enqueue)
  __u32 victim;    // next slot to write out when no slot holds a key
  __u32 pad;
  __u64 t_irq;     // entry of the interrupt (RPS IPI, device IRQ) that may raise the next NET_RX; 0 = none
};

// Key of the attribution table: who ran it (ctx_cg), whose packets (owner), which vector.
struct acct_key {
  __u64 ctx_cg;
  __u32 owner;
  __u32 vec;
};

struct acct_val {
  __u64 ns;
  __u64 packets;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct cpu_state);
} ironlab_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 8192);
  __type(key, struct acct_key);
  __type(value, struct acct_val);
} ironlab_acct SEC(".maps");

static __always_inline void flush(struct cpu_state *st) {
  __u64 ctx = st->ctx_cg;
  __u32 owner = st->owner, vec = st->vec;
#pragma unroll
  for (int i = 0; i < PENDING; i++) {
    struct pending *p = &st->p[i];
    if (p->vec == vec && p->owner == owner && p->ctx == ctx) {
      p->ns += st->acc;
      p->pkts += st->pkts;
      st->acc = 0;
      st->pkts = 0;
      return;
    }
  }
  // No slot holds this key: write one out to the hash and take it over.
  __u32 i = st->victim & (PENDING - 1);
  st->victim = i + 1;
  struct pending *p = &st->p[i];
  if (p->vec) {
    struct acct_key k = { .ctx_cg = p->ctx, .owner = p->owner, .vec = p->vec };
    struct acct_val *v = bpf_map_lookup_elem(&ironlab_acct, &k);
    if (v) {
      v->ns += p->ns;
      v->packets += p->pkts;
    } else {
      struct acct_val nv = { .ns = p->ns, .packets = p->pkts };
      bpf_map_update_elem(&ironlab_acct, &k, &nv, BPF_ANY);
    }
  }
  p->ctx = ctx;
  p->owner = owner;
  p->vec = vec;
  p->ns = st->acc;
  p->pkts = st->pkts;
  st->acc = 0;
  st->pkts = 0;
}

// The interrupted task's cpu cgroup, as the inode of its cgroupfs directory (kernfs node id), which user space
// gets with stat(2). Plain loads on the BTF task pointer (CO-RE relocated through vmlinux.h's
// preserve_access_index; the verifier makes them fault-safe), cheaper than bpf_probe_read_kernel calls.
static __always_inline __u64 current_cpu_cgroup(void) {
  struct task_struct *t = bpf_get_current_task_btf();
  struct task_group *tg = t->sched_task_group;
  if (!tg) return 0;
  struct cgroup *cg = tg->css.cgroup;
  if (!cg) return 0;
  struct kernfs_node *kn = cg->kn;
  return kn ? kn->id : 0;
}

static __always_inline struct cpu_state *state(void) {
  __u32 z = 0;
  return bpf_map_lookup_elem(&ironlab_state, &z);
}

// The interrupt that brings a packet to this CPU is the packet's cost too: the RPS IPI (a single-target
// function call on x86) on the core RPS steers to, the NIC's IRQ on its IRQ core. Its handler, interrupt exit
// and the softirq it raises run back to back on the interrupted task's time; the entry/exit tracepoints of the
// softirq see only the last part (measured on the 2-core VM: IPI handler ~1.3 us and ~1.2 us from its exit to
// the softirq's entry, against ~4 us of NET_RX per packet). So a NET_RX softirq that starts within
// IRQ_WINDOW_NS of such an interrupt opens its interval at the interrupt's entry.
#define IRQ_WINDOW_NS 50000

static __always_inline void irq_entered(void) {
  struct cpu_state *st = state();
  if (!st || st->vec) return; // inside a network softirq: its interval already covers this interrupt
  st->t_irq = bpf_ktime_get_ns();
}

SEC("tp_btf/call_function_single_entry")
int BPF_PROG(ironlab_ipi_entry, int vector) {
  irq_entered();
  return 0;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(ironlab_irq_entry, int irq, struct irqaction *action) {
  irq_entered();
  return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(ironlab_sirq_entry, unsigned int vec) {
  struct cpu_state *st = state();
  if (!st) return 0;
  __u64 t_irq = st->t_irq;
  st->t_irq = 0; // the interrupt is claimed by the first softirq after it (another vector: by nobody)
  if (vec != NET_RX && vec != NET_TX) return 0;
  __u64 now = bpf_ktime_get_ns();
  if (vec == NET_RX && t_irq && now - t_irq < IRQ_WINDOW_NS) now = t_irq;
  st->t_entry = now;
  st->t_last = now;
  st->acc = 0;
  st->pkts = 0;
  st->vec = vec;
  // A softirq raised by an enqueue starts out as that packet's (its first work is the RPS IPI); otherwise the
  // time before the first marker goes to the first packet's owner (driver/GRO work for it).
  st->owner = vec == NET_RX ? st->enq_owner : 0;
  st->have = st->owner != 0;
  st->enq_owner = 0;
  st->ctx_cg = current_cpu_cgroup();
  return 0;
}

// One packet marker: close the previous packet's interval, switch owner when it changes.
static __always_inline void mark(struct cpu_state *st, __u32 owner) {
  st->pkts++;
  // No clock read unless the owner changes: the running interval (since entry or the last change) simply
  // stays with its owner. The first marker names the owner of the time since entry; in a flood most markers
  // repeat the current owner.
  if (!st->have) {
    st->owner = owner;
    st->have = 1;
    return;
  }
  if (owner == st->owner) return;
  __u64 now = bpf_ktime_get_ns();
  st->pkts--; // this packet starts the new owner's interval
  st->acc += now - st->t_last;
  st->t_last = now;
  flush(st); // everything since the last change was the previous owner's
  st->owner = owner;
  st->pkts = 1;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(ironlab_rx, struct sk_buff *skb) {
  struct cpu_state *st = state();
  if (!st || st->vec != NET_RX) return 0;
  __u32 daddr = 0;
  // skb->data already points at L3 here (after eth_type_trans); network_header is not reset yet.
  if (skb->protocol == bpf_htons(ETH_P_IP)) daddr = IP_FIELD(skb->data, daddr);
  mark(st, daddr);
  return 0;
}

// Enqueue to a backlog (veth, loopback) is the end of the sender's transmit path. With RPS the enqueueing CPU
// then raises NET_RX just to send the IPI to the target CPU, and in a VM that IPI (an MSR write, a VM exit) is
// the dominant cost (checked with a profile: most unmarked NET_RX time was in net_rps_send_ipi). Like a NIC's
// transmit, it is the sender's: the owner is the IPv4 source. Inside a network softirq an enqueue is a marker;
// outside one it names the owner of the next NET_RX softirq on this CPU (the one that sends the IPI).
SEC("tp_btf/netif_rx")
int BPF_PROG(ironlab_enqueue, struct sk_buff *skb) {
  struct cpu_state *st = state();
  if (!st) return 0;
  __u32 saddr = 0;
  if (skb->protocol == bpf_htons(ETH_P_IP)) saddr = IP_FIELD(skb->data, saddr);
  if (st->vec == NET_RX) mark(st, saddr);
  else st->enq_owner = saddr; // also from NET_TX (a qdisc dequeue into a veth): its IPI comes in a NET_RX later
  return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(ironlab_tx, const struct sk_buff *skb, const struct net_device *dev) {
  struct cpu_state *st = state();
  if (!st || st->vec != NET_TX) return 0; // transmits outside NET_TX are paid by the sender's own context
  __u32 saddr = 0;
  if (skb->protocol == bpf_htons(ETH_P_IP)) saddr = IP_FIELD(skb->head + skb->network_header, saddr);
  mark(st, saddr);
  return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(ironlab_sirq_exit, unsigned int vec) {
  if (vec != NET_RX && vec != NET_TX) return 0;
  struct cpu_state *st = state();
  if (!st || st->vec != vec) return 0;
  __u64 now = bpf_ktime_get_ns();
  st->acc += now - st->t_last;
  flush(st);
  if (vec == NET_RX) st->tot_rx += now - st->t_entry;
  else st->tot_tx += now - st->t_entry;
  st->vec = 0;
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
