// Package perf measures Parley's real-time audio core: what each stage of
// the per-call pipeline costs per frame (Stages, for 'go test -bench' and
// 'parley bench media'), the one-way mouth-to-ear latency of a call over
// loopback (MeasureLatency, for 'parley bench latency'), and whether a long
// call's memory and buffer delay stay flat under loss and jitter (Soak, for
// 'parley bench soak').
package perf

import (
	_ "embed"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/parley-voip/parley/media"
	"github.com/parley-voip/parley/media/dsp"
	"github.com/parley-voip/parley/media/jitter"
)

// speechWAV is a short English sentence (the media package's tests read it
// too): the stages encode real speech,
// whose cost differs from tones and silence.
//
//go:embed speech.wav
var speechWAV []byte

// Stage is one measured step of the audio pipeline. Run does the step once
// per b.N iteration, on one 20 ms frame.
type Stage struct {
	Name string
	Run  func(b *testing.B)
}

// fixture holds the speech frames and packets the stages work on.
type fixture struct {
	frames     [][]int16 // 20 ms of speech each
	packets    [][]byte  // frames encoded at complexity 9, 32 kbit/s
	fecPackets [][]byte  // frames encoded with in-band FEC for 10 % loss
}

var (
	fixtureOnce sync.Once
	fixtureData fixture
	fixtureErr  error
)

func loadFixture() (*fixture, error) {
	fixtureOnce.Do(func() {
		pcm, err := media.DecodeWAV(speechWAV)
		if err != nil {
			fixtureErr = fmt.Errorf("perf: speech: %w", err)
			return
		}
		f := &fixtureData
		for i := 0; i+media.FrameSamples <= len(pcm); i += media.FrameSamples {
			f.frames = append(f.frames, pcm[i:i+media.FrameSamples])
		}
		if f.packets, err = encodeAll(f.frames, media.EncoderConfig{}); err != nil {
			fixtureErr = err
			return
		}
		f.fecPackets, fixtureErr = encodeAll(f.frames, media.EncoderConfig{FEC: true, PacketLossPercent: 10})
	})
	return &fixtureData, fixtureErr
}

func encodeAll(frames [][]int16, cfg media.EncoderConfig) ([][]byte, error) {
	enc, err := media.NewEncoder(cfg)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	buf := make([]byte, media.MaxOpusPacket)
	for _, f := range frames {
		n, err := enc.Encode(f, buf)
		if err != nil {
			return nil, err
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	return out, nil
}

// Stages returns the pipeline's stages, each per 20 ms frame of speech:
// the codec alone (encode at complexity 5, 9 and 10; decode; FEC decode;
// concealment), the jitter buffer, the capture processing, and the whole path at one end of a call
// with the codec in it — capture → encode → RTP → SRTP and SRTP → RTP →
// jitter buffer → decode → sink.
func Stages() []Stage {
	return []Stage{
		{"encode-c5", encodeStage(5)},
		{"encode-c9", encodeStage(9)},
		{"encode-c10", encodeStage(10)},
		{"decode", decodeStage},
		{"decode-fec", decodeFECStage},
		{"conceal", concealStage},
		{"jitter-buffer", jitterStage},
		// Capture processing (media/dsp): voice detection alone, then
		// with each stage, then all of them (the default on a device).
		{"dsp-vad", dspStage(dsp.Config{EchoOff: true, NoiseOff: true, GainOff: true})},
		{"dsp-aec", dspStage(dsp.Config{NoiseOff: true, GainOff: true})},
		{"dsp-ns", dspStage(dsp.Config{EchoOff: true, GainOff: true})},
		{"dsp-agc", dspStage(dsp.Config{EchoOff: true, NoiseOff: true})},
		{"dsp-all", dspStage(dsp.Config{})},
		{"send-pipeline", sendStage(true)},
		{"receive-pipeline", receiveStage(true)},
		// The same without the codec: what Parley adds, measured directly
		// rather than as a small difference of two noisy figures.
		{"send-without-codec", sendStage(false)},
		{"receive-without-codec", receiveStage(false)},
	}
}

func mustFixture(b *testing.B) *fixture {
	f, err := loadFixture()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func encodeStage(complexity int) func(b *testing.B) {
	return func(b *testing.B) {
		f := mustFixture(b)
		enc, err := media.NewEncoder(media.EncoderConfig{Complexity: complexity})
		if err != nil {
			b.Fatal(err)
		}
		out := make([]byte, media.MaxOpusPacket)
		i := 0
		for b.Loop() {
			if _, err := enc.Encode(f.frames[i%len(f.frames)], out); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}

func decodeStage(b *testing.B) {
	f := mustFixture(b)
	dec, err := media.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, media.FrameSamples)
	i := 0
	for b.Loop() {
		if _, err := dec.Decode(f.packets[i%len(f.packets)], pcm); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func decodeFECStage(b *testing.B) {
	f := mustFixture(b)
	dec, err := media.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, media.FrameSamples)
	i := 0
	for b.Loop() {
		if err := dec.DecodeFEC(f.fecPackets[i%len(f.fecPackets)], pcm); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func concealStage(b *testing.B) {
	f := mustFixture(b)
	dec, err := media.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, media.FrameSamples)
	if _, err := dec.Decode(f.packets[len(f.packets)/2], pcm); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := dec.Conceal(pcm); err != nil {
			b.Fatal(err)
		}
	}
}

var epoch = time.Unix(1_700_000_000, 0)

func jitterStage(b *testing.B) {
	f := mustFixture(b)
	buf := jitter.New(jitter.Config{})
	i := 0
	for b.Loop() {
		now := epoch.Add(time.Duration(i) * 20 * time.Millisecond)
		buf.Push(uint16(i), uint32(i*media.FrameSamples), 1, f.packets[i%len(f.packets)], now)
		buf.Pop(now)
		i++
	}
}

// srtpPair returns an encrypting and a decrypting SRTP context sharing a
// key, with the profile pion negotiates first (AEAD AES-128-GCM).
func srtpPair() (*srtp.Context, *srtp.Context, error) {
	profile := srtp.ProtectionProfileAeadAes128Gcm
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	key, salt := make([]byte, keyLen), make([]byte, saltLen)
	for i := range key {
		key[i] = byte(i)
	}
	enc, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		return nil, nil, fmt.Errorf("perf: srtp: %w", err)
	}
	dec, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		return nil, nil, fmt.Errorf("perf: srtp: %w", err)
	}
	return enc, dec, nil
}

// sendStage is one frame through the sending end: a captured frame is
// copied out of the capture ring, encoded (or, without codec, taken from
// the pre-encoded packets), framed as RTP and encrypted.
func sendStage(codec bool) func(b *testing.B) {
	return func(b *testing.B) { send(b, codec) }
}

func send(b *testing.B, codec bool) {
	f := mustFixture(b)
	enc, err := media.NewEncoder(media.EncoderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, _, err := srtpPair()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, media.FrameSamples)
	payload := make([]byte, media.MaxOpusPacket)
	raw := make([]byte, 0, 1500)
	out := make([]byte, 0, 1500)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}}
	i := 0
	for b.Loop() {
		copy(pcm, f.frames[i%len(f.frames)]) // capture: out of the device ring
		var n int
		if codec {
			if n, err = enc.Encode(pcm, payload); err != nil {
				b.Fatal(err)
			}
		} else {
			n = copy(payload, f.packets[i%len(f.packets)])
		}
		pkt.SequenceNumber, pkt.Timestamp, pkt.Payload = uint16(i), uint32(i*media.FrameSamples), payload[:n]
		m, err := pkt.MarshalTo(raw[:cap(raw)])
		if err != nil {
			b.Fatal(err)
		}
		if out, err = ctx.EncryptRTP(out[:0], raw[:m], &pkt.Header); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// receiveStage is one frame through the receiving end: an SRTP packet is
// decrypted, parsed, buffered, popped, decoded (unless without codec) and
// written to a sink ring.
func receiveStage(codec bool) func(b *testing.B) {
	return func(b *testing.B) { receive(b, codec) }
}

func receive(b *testing.B, codec bool) {
	f := mustFixture(b)
	encCtx, decCtx, err := srtpPair()
	if err != nil {
		b.Fatal(err)
	}
	// The packets as they come off the wire.
	wire := make([][]byte, len(f.packets))
	for i, p := range f.packets {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1,
			SequenceNumber: uint16(i), Timestamp: uint32(i * media.FrameSamples)}, Payload: p}
		raw, err := pkt.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if wire[i], err = encCtx.EncryptRTP(nil, raw, nil); err != nil {
			b.Fatal(err)
		}
	}
	dec, err := media.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	buf := jitter.New(jitter.Config{})
	pcm := make([]int16, media.FrameSamples)
	ring := make([]int16, 8*media.FrameSamples) // the speaker's ring
	plain := make([]byte, 0, 1500)
	var (
		pkt    rtp.Packet
		header rtp.Header
	)
	i := 0
	for b.Loop() {
		// SRTP is stateful (rollover counter): replay the wire packets with
		// the sequence numbers they would have had, re-encrypted outside
		// the timed region only when the table wraps.
		k := i % len(wire)
		if k == 0 && i > 0 {
			b.StopTimer()
			_, decCtx, _ = srtpPair()
			buf = jitter.New(jitter.Config{})
			b.StartTimer()
		}
		if plain, err = decCtx.DecryptRTP(plain[:0], wire[k], &header); err != nil {
			b.Fatal(err)
		}
		if err := pkt.Unmarshal(plain); err != nil {
			b.Fatal(err)
		}
		now := epoch.Add(time.Duration(k) * 20 * time.Millisecond)
		buf.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Payload, now)
		frame := buf.Pop(now)
		if frame.Kind == jitter.FramePacket && codec {
			if _, err := dec.Decode(frame.Payload, pcm); err != nil {
				b.Fatal(err)
			}
		}
		copy(ring[(i%8)*media.FrameSamples:], pcm)
		i++
	}
}
