package nat

import (
	"net"

	"golang.org/x/net/ipv4"
)

// batchConn reads a listening socket in batches (recvmmsg) and hands the
// packets to pion's read loop one at a time: under load one system call
// brings many packets instead of one. Only that loop may read it.
type batchConn struct {
	net.PacketConn
	pc      *ipv4.PacketConn
	msgs    []ipv4.Message
	n, next int // msgs[next:n] are read and not yet handed out
}

// batchSize is how many packets one read may bring: at 1,000 relayed calls
// a listener gets ~25 packets per millisecond.
const batchSize = 32

func newBatchConn(c net.PacketConn) *batchConn {
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, inboundMTU)}
	}
	return &batchConn{PacketConn: c, pc: ipv4.NewPacketConn(c), msgs: msgs}
}

// inboundMTU is pion/turn's default read size.
const inboundMTU = 1600

func (c *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.next == c.n {
		n, err := c.pc.ReadBatch(c.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		c.n, c.next = n, 0
	}
	m := &c.msgs[c.next]
	c.next++
	return copy(p, m.Buffers[0][:m.N]), m.Addr, nil
}
