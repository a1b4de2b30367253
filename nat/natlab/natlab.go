// Package natlab builds a NAT lab out of Linux network namespaces: a
// "public" segment (where the directory and the supernodes live) and private
// LANs behind NAT routers that use the kernel's own NAT (iptables), so tests
// see the mappings and filtering real home routers make.
//
// Topology, for LAN n (1-based) with hosts a, b, …:
//
//	host <p>h<n><x>  eth0 10.0.n.(10+i)/24 ──┐
//	                                        lan bridge 10.0.n.1/24
//	router <p>r<n>                          wan 203.0.113.(100+n)/24 ──┐
//	public <p>pub                                           br0 203.0.113.1…k/24
//
// The public segment uses TEST-NET-3 (RFC 5737), which no relay deny list
// holds, so supernodes relay between the routers' WAN addresses as they
// would on the Internet. Routers drop unsolicited inbound traffic on their
// WAN side (FORWARD and INPUT accept only ESTABLISHED,RELATED), as home
// routers do: without that an early hole-punch packet would create a
// conntrack entry that makes masquerade pick another port.
//
// Impairments: random loss (an iptables statistic rule on the router),
// bandwidth (a tbf qdisc on its WAN link), and delay with jitter: a LAN
// given a Delay gets an impairer namespace <p>i<n> between its router and
// the public segment, whose two links this process bridges in userspace
// (raw packet sockets), holding each frame Delay ± Jitter — this kernel has
// no netem.
//
// Every name carries the lab's prefix; New removes what an earlier run with
// the same prefix left behind, and Close removes everything.
package natlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// NAT is the kind of a LAN's router.
type NAT string

// The router kinds.
const (
	// Cone maps endpoint-independently and keeps the host's port when it
	// can (Linux masquerade).
	Cone NAT = "cone"
	// Symmetric picks a new random port for every destination
	// (masquerade --random-fully).
	Symmetric NAT = "symmetric"
	// UDPBlocked is a cone NAT that drops all outbound UDP: only TCP
	// leaves the LAN.
	UDPBlocked NAT = "udp-blocked"
)

// LAN is one private network behind a NAT router.
type LAN struct {
	NAT   NAT // "" → Cone
	Hosts int // 0 → 1
	// Loss drops this fraction (0..1) of the packets the router forwards,
	// each way.
	Loss float64
	// RateKbps limits the router's upstream (WAN egress) from the start,
	// as Lab.SetRate does; 0 is unlimited.
	RateKbps int
	// Delay and Jitter hold every packet between the router and the public
	// segment for Delay ± Jitter (uniform; jitter reorders), each way, in a
	// userspace bridge (this kernel has no netem).
	Delay, Jitter time.Duration
}

// Config describes a lab.
type Config struct {
	// Prefix starts every namespace name; keep it short (≤ 8 characters)
	// and unique per test.
	Prefix string
	LANs   []LAN
	// PublicAddrs is how many addresses the public namespace holds
	// (203.0.113.1, .2, …), one per service that must be reachable on its
	// own (two supernodes, say). 0 → 1.
	PublicAddrs int
}

func (c *Config) validate() error {
	if c.Prefix == "" || len(c.Prefix) > 8 {
		return fmt.Errorf("natlab: prefix %q: want 1-8 characters", c.Prefix)
	}
	if len(c.LANs) > 50 || c.PublicAddrs > 50 {
		return errors.New("natlab: at most 50 LANs and 50 public addresses")
	}
	for i, l := range c.LANs {
		switch l.NAT {
		case "", Cone, Symmetric, UDPBlocked:
		default:
			return fmt.Errorf("natlab: LAN %d: unknown NAT kind %q", i+1, l.NAT)
		}
		if l.Hosts > 26 || l.Loss < 0 || l.Loss >= 1 || l.RateKbps < 0 || l.Delay < 0 || l.Jitter < 0 || l.Jitter > l.Delay {
			return fmt.Errorf("natlab: LAN %d: want ≤ 26 hosts, loss in [0,1), rate ≥ 0, 0 ≤ jitter ≤ delay", i+1)
		}
	}
	return nil
}

// Host is a network namespace with an address: a LAN host, or the public
// namespace.
type Host struct {
	Namespace string
	IP        netip.Addr // its (first) address
}

// Lab is a running topology. Close removes it.
type Lab struct {
	cfg    Config
	public Host
	hosts  [][]Host // by LAN, then host
	wan    []netip.Addr
	impair []*impairer
}

// Available says why the lab cannot run here (not root, no ip or
// iptables), or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("natlab needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "iptables", "tc", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("natlab needs %s (.ci/install-deps installs it): %w", tool, err)
		}
	}
	return nil
}

// New builds the lab described by cfg, first removing anything an earlier
// lab with the same prefix left behind. On error nothing is left behind.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.PublicAddrs == 0 {
		cfg.PublicAddrs = 1
	}
	l := &Lab{cfg: cfg}
	if err := l.Close(); err != nil {
		return nil, err
	}
	if err := l.build(ctx); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return l, nil
}

// PublicAddr returns the public namespace's i-th address (0-based).
func (l *Lab) PublicAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i)})
}

// Public returns the public namespace.
func (l *Lab) Public() Host { return l.public }

// Host returns host i (0-based) of LAN lan (0-based).
func (l *Lab) Host(lan, i int) Host { return l.hosts[lan][i] }

// WAN returns the public address of LAN lan's router.
func (l *Lab) WAN(lan int) netip.Addr { return l.wan[lan] }

// ChangeWAN renumbers LAN lan's (0-based) router, as an ISP renumbering a
// home does: its public address becomes 203.0.113.(150+n) (or back), and
// with the old address go the NAT mappings made on it (masquerade forgets
// them), so the LAN's established flows break and new ones leave from the
// new address. It returns the new address.
func (l *Lab) ChangeWAN(ctx context.Context, lan int) (netip.Addr, error) {
	if lan < 0 || lan >= len(l.wan) {
		return netip.Addr{}, fmt.Errorf("natlab: change WAN: no LAN %d", lan)
	}
	old, n := l.wan[lan], byte(lan+1)
	next := netip.AddrFrom4([4]byte{203, 0, 113, 150 + n})
	if old == next {
		next = netip.AddrFrom4([4]byte{203, 0, 113, 100 + n})
	}
	r := l.ns("r" + strconv.Itoa(lan+1))
	b := &batch{}
	b.add("ip", "-n", r, "addr", "del", old.String()+"/24", "dev", "wan")
	b.add("ip", "-n", r, "addr", "add", next.String()+"/24", "dev", "wan")
	if err := b.run(ctx); err != nil {
		return netip.Addr{}, err
	}
	l.wan[lan] = next
	return next, nil
}

func (l *Lab) ns(suffix string) string { return l.cfg.Prefix + suffix }

func (l *Lab) build(ctx context.Context) error {
	pub := l.ns("pub")
	l.public = Host{Namespace: pub, IP: l.PublicAddr(0)}
	var b batch
	b.add("ip", "netns", "add", pub)
	b.add("ip", "-n", pub, "link", "set", "lo", "up")
	b.add("ip", "-n", pub, "link", "add", "br0", "type", "bridge")
	b.add("ip", "-n", pub, "link", "set", "br0", "up")
	for i := range l.cfg.PublicAddrs {
		b.add("ip", "-n", pub, "addr", "add", l.PublicAddr(i).String()+"/24", "dev", "br0")
	}
	for n, lan := range l.cfg.LANs {
		l.buildLAN(&b, n+1, lan)
	}
	if err := b.run(ctx); err != nil {
		return err
	}
	if err := l.awaitLinks(ctx); err != nil {
		return err
	}
	for n, lan := range l.cfg.LANs {
		if lan.Delay == 0 {
			continue
		}
		im, err := startImpairer(Host{Namespace: l.ns("i" + strconv.Itoa(n+1))}, "lan", "pub", lan.Delay, lan.Jitter)
		if err != nil {
			return err
		}
		l.impair = append(l.impair, im)
	}
	return nil
}

// awaitLinks waits until every link of the lab is up: the kernel reports a
// veth's carrier, and so a bridge port's forwarding, up to a second after
// the link is set up, and a packet sent before then is lost (an ARP request
// lost this way costs a second-long retry).
func (l *Lab) awaitLinks(ctx context.Context) error {
	namespaces := []string{l.ns("pub")}
	for n, lan := range l.cfg.LANs {
		namespaces = append(namespaces, l.ns("r"+strconv.Itoa(n+1)))
		if lan.Delay > 0 {
			namespaces = append(namespaces, l.ns("i"+strconv.Itoa(n+1)))
		}
	}
	for _, row := range l.hosts {
		for _, h := range row {
			namespaces = append(namespaces, h.Namespace)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, ns := range namespaces {
		for {
			out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-o", "link", "show").Output()
			if err != nil {
				return fmt.Errorf("natlab: links of %s: %w", ns, err)
			}
			down := ""
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "NO-CARRIER") || strings.Contains(line, "state DOWN") && !strings.Contains(line, "LOOPBACK") {
					down = line
				}
			}
			if down == "" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("natlab: a link in %s stays down: %s", ns, down)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// buildLAN adds LAN n's router and hosts to b.
func (l *Lab) buildLAN(b *batch, n int, lan LAN) {
	pub, r := l.ns("pub"), l.ns("r"+strconv.Itoa(n))
	wan := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + n)})
	l.wan = append(l.wan, wan)
	gw := netip.AddrFrom4([4]byte{10, 0, byte(n), 1})
	b.add("ip", "netns", "add", r)
	b.add("ip", "-n", r, "link", "set", "lo", "up")
	b.add("ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	port := "r" + strconv.Itoa(n)
	if lan.Delay == 0 {
		b.add("ip", "-n", r, "link", "add", "wan", "type", "veth", "peer", "name", port, "netns", pub)
	} else {
		// router wan ── lan [impairer <p>i<n>] pub ── br0: a bridge in
		// userspace that holds each frame a while.
		im := l.ns("i" + strconv.Itoa(n))
		b.add("ip", "netns", "add", im)
		b.add("ip", "netns", "exec", im, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
		b.add("ip", "netns", "exec", im, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
		b.add("ip", "-n", r, "link", "add", "wan", "type", "veth", "peer", "name", "lan", "netns", im)
		b.add("ip", "-n", im, "link", "add", "pub", "type", "veth", "peer", "name", port, "netns", pub)
		for _, dev := range []string{"lan", "pub"} {
			b.add("ip", "-n", im, "link", "set", dev, "promisc", "on", "up")
		}
		// The frames the impairer copies must be whole: checksums computed
		// and segments cut by the senders, not left to a NIC.
		for _, dev := range [][2]string{{r, "wan"}, {pub, port}, {im, "lan"}, {im, "pub"}} {
			b.add("ip", "netns", "exec", dev[0], "ethtool", "-K", dev[1], "tx", "off", "tso", "off", "gso", "off", "gro", "off")
		}
	}
	b.add("ip", "-n", pub, "link", "set", port, "master", "br0", "up")
	b.add("ip", "-n", r, "addr", "add", wan.String()+"/24", "dev", "wan")
	b.add("ip", "-n", r, "link", "set", "wan", "up")
	b.add("ip", "-n", r, "link", "add", "lan", "type", "bridge")
	b.add("ip", "-n", r, "addr", "add", gw.String()+"/24", "dev", "lan")
	b.add("ip", "-n", r, "link", "set", "lan", "up")

	hosts := max(lan.Hosts, 1)
	var row []Host
	for i := range hosts {
		name := l.ns("h" + strconv.Itoa(n) + string(rune('a'+i)))
		ip := netip.AddrFrom4([4]byte{10, 0, byte(n), byte(10 + i)})
		row = append(row, Host{Namespace: name, IP: ip})
		port := "h" + strconv.Itoa(i)
		b.add("ip", "netns", "add", name)
		b.add("ip", "-n", name, "link", "set", "lo", "up")
		b.add("ip", "-n", r, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
		b.add("ip", "-n", r, "link", "set", port, "master", "lan", "up")
		b.add("ip", "-n", name, "addr", "add", ip.String()+"/24", "dev", "eth0")
		b.add("ip", "-n", name, "link", "set", "eth0", "up")
		b.add("ip", "-n", name, "route", "add", "default", "via", gw.String())
	}
	l.hosts = append(l.hosts, row)

	ipt := func(args ...string) { b.add("ip", append([]string{"netns", "exec", r, "iptables", "-w"}, args...)...) }
	masq := []string{"-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if lan.NAT == Symmetric {
		masq = append(masq, "--random-fully")
	}
	ipt(masq...)
	// A home router: nothing comes in from the WAN unless it answers
	// something that went out.
	for _, chain := range []string{"FORWARD", "INPUT"} {
		ipt("-A", chain, "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		ipt("-A", chain, "-i", "wan", "-j", "DROP")
	}
	if lan.NAT == UDPBlocked {
		ipt("-I", "FORWARD", "-o", "wan", "-p", "udp", "-j", "DROP")
	}
	if lan.Loss > 0 {
		p := strconv.FormatFloat(lan.Loss, 'f', 4, 64)
		ipt("-t", "mangle", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	}
	if lan.RateKbps > 0 {
		// The same bucket and queue as Lab.SetRate's (rate.go), upstream only.
		b.add("ip", append([]string{"netns", "exec", r, "tc", "qdisc", "add", "dev", "wan", "root"}, Rate{Kbps: lan.RateKbps}.tbfArgs()...)...)
	}
}

// Close removes every namespace carrying the lab's prefix (and so every
// link and rule in them). It is idempotent.
func (l *Lab) Close() error {
	for _, im := range l.impair {
		im.close()
	}
	l.impair = nil
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("natlab: list namespaces: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name == "" || !l.owns(name) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("natlab: delete namespace %s: %v: %s", name, err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// owns reports whether a namespace name is one this lab makes: the prefix
// followed by pub, r<n>, i<n> or h<n><x>, so that a prefix that starts another
// lab's prefix never deletes that lab.
func (l *Lab) owns(name string) bool {
	rest, ok := strings.CutPrefix(name, l.cfg.Prefix)
	if !ok {
		return false
	}
	if rest == "pub" {
		return true
	}
	if len(rest) < 2 || (rest[0] != 'r' && rest[0] != 'i' && rest[0] != 'h') {
		return false
	}
	digits := strings.TrimRight(rest[1:], "abcdefghijklmnopqrstuvwxyz")
	if _, err := strconv.Atoi(digits); err != nil {
		return false
	}
	return rest[0] == 'h' && len(digits) == len(rest)-2 || rest[0] != 'h' && len(digits) == len(rest)-1
}

// Command returns a command that runs name in h's namespace.
func (h Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Namespace, name}, args...)...)
}

// errExited: a function run by Host.Do ended its goroutine (a test's
// t.Fatal) instead of returning.
var errExited = errors.New("natlab: function exited its goroutine")

// Do runs fn on an OS thread that has entered h's namespace: sockets fn
// opens, and processes it starts, live there. fn must not start goroutines
// that open sockets (they run on other threads).
func (h Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		err := errExited
		defer func() { errc <- err }()
		// The thread is never unlocked: it dies with this goroutine, so no
		// other goroutine ever runs in the lab's namespace.
		runtime.LockOSThread()
		f, oerr := os.Open("/run/netns/" + h.Namespace)
		if oerr != nil {
			err = fmt.Errorf("natlab: %w", oerr)
			return
		}
		defer f.Close()
		if serr := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); serr != nil {
			err = fmt.Errorf("natlab: enter namespace %s: %w", h.Namespace, serr)
			return
		}
		err = fn()
	}()
	return <-errc
}

// batch is a list of commands run in order, stopping at the first failure.
type batch struct{ cmds [][]string }

func (b *batch) add(name string, args ...string) {
	b.cmds = append(b.cmds, append([]string{name}, args...))
}

func (b *batch) run(ctx context.Context) error {
	for _, c := range b.cmds {
		out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("natlab: %s: %v: %s", strings.Join(c, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
