package natlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// impairer delays frames between two interfaces of its namespace: a
// userspace bridge, since this kernel has no netem. Each frame waits
// Delay ± Jitter (uniform), so jitter reorders packets as netem does.
type impairer struct {
	delay, jitter time.Duration
	fds           [2]int
	stop          chan struct{}
	wg            sync.WaitGroup // the forward loops
	// mu is held to write frames and, exclusively, to close the sockets, so
	// that a late frame never goes to a reused descriptor.
	mu sync.RWMutex
}

// startImpairer bridges ifaces a and b of h's namespace with a delay.
func startImpairer(h Host, a, b string, delay, jitter time.Duration) (*impairer, error) {
	im := &impairer{delay: delay, jitter: jitter, fds: [2]int{-1, -1}, stop: make(chan struct{})}
	err := h.Do(func() error {
		for i, name := range []string{a, b} {
			fd, err := openPacketSocket(name)
			if err != nil {
				return err
			}
			im.fds[i] = fd
		}
		return nil
	})
	if err != nil {
		im.close()
		return nil, err
	}
	for i := range 2 {
		im.wg.Add(1)
		go im.forwardLoop(im.fds[i], im.fds[1-i])
	}
	return im, nil
}

// openPacketSocket opens a raw packet socket on iface that wakes every
// 100 ms, so that the forward loop sees the stop signal.
func openPacketSocket(iface string) (int, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return -1, fmt.Errorf("natlab: impairer: %w", err)
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return -1, fmt.Errorf("natlab: impairer socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	err = errors.Join(
		unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("natlab: impairer on %s: %w", iface, err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// forwardLoop reads the frames arriving on in and writes each to out when
// its delay is over.
func (im *impairer) forwardLoop(in, out int) {
	defer im.wg.Done()
	buf := make([]byte, 65536)
	for {
		select {
		case <-im.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(in, buf, 0)
		if err != nil {
			continue // the wake-up timeout, or an interrupted call
		}
		// The frames this impairer writes come back as outgoing ones.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		frame := append([]byte(nil), buf[:n]...)
		d := im.delay
		if im.jitter > 0 {
			d += time.Duration(rand.Int64N(int64(2*im.jitter))) - im.jitter
		}
		time.AfterFunc(max(d, 0), func() {
			im.mu.RLock()
			defer im.mu.RUnlock()
			select {
			case <-im.stop:
			default:
				unix.Write(out, frame) // a frame lost on a closing lab is lost
			}
		})
	}
}

func (im *impairer) close() {
	select {
	case <-im.stop:
		return
	default:
	}
	close(im.stop)
	im.wg.Wait()
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, fd := range im.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
