// HTB rate limiting for one sender (one class under the root qdisc), as a token bucket. While the class has
// tokens and nothing is queued, a packet goes straight through in the sender's own system call (process
// context). Once the class runs out of tokens, packets wait in the qdisc and are dequeued later by the qdisc
// watchdog timer in NET_TX softirq, on whatever task is running: that deferred dequeue is the cost IRON says
// escapes accounting (IRON.md section 2, case b).

export class Htb {
  tokensBytes: number;
  queuePackets = 0;
  /** Packets each watchdog wakeup releases on average (the timer cannot fire more often than htbTimerMinUs). */
  readonly packetsPerWakeup: number;

  constructor(
    readonly rateBytesPerNs: number,
    readonly burstBytes: number,
    readonly packetBytes: number,
    readonly limitPackets: number,
    timerMinNs: number,
  ) {
    this.tokensBytes = burstBytes;
    this.packetsPerWakeup = Math.max(1, (rateBytesPerNs * timerMinNs) / packetBytes);
  }

  refill(dtNs: number): void {
    this.tokensBytes = Math.min(this.burstBytes, this.tokensBytes + this.rateBytesPerNs * dtNs);
  }

  /** Packets that may be sent directly by the caller (queue empty, tokens available). */
  directAllowance(): number {
    return this.queuePackets > 0 ? 0 : Math.max(0, this.tokensBytes / this.packetBytes);
  }

  sendDirect(n: number): void {
    this.tokensBytes -= n * this.packetBytes;
  }

  /** Queue packets; returns how many did not fit (dropped by the qdisc). */
  enqueue(n: number): number {
    const room = Math.max(0, this.limitPackets - this.queuePackets);
    const accepted = Math.min(n, room);
    this.queuePackets += accepted;
    return n - accepted;
  }

  /** Packets the watchdog may release now. */
  releasable(): number {
    if (this.queuePackets <= 0) return 0;
    return Math.min(this.queuePackets, Math.max(0, this.tokensBytes / this.packetBytes));
  }

  dequeue(n: number): void {
    this.queuePackets -= n;
    this.tokensBytes -= n * this.packetBytes;
    if (this.queuePackets < 1e-9) this.queuePackets = 0;
  }
}
