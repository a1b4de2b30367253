package media

import (
	"fmt"

	"github.com/hraban/opus"
)

const (
	// MaxOpusPacket is the size of a buffer that holds any packet Encoder
	// produces: the encoder keeps packets within an Ethernet MTU, so RTP never
	// needs IP fragmentation.
	MaxOpusPacket = 1500
	// MaxPacketSamples is the most samples one Opus packet decodes to
	// (120 ms at 48 kHz, RFC 6716 §3.2.5): a Decode buffer this long fits any
	// packet.
	MaxPacketSamples = 120 * SampleRate / 1000

	defaultBitrate = 32000
	// defaultComplexity is WebRTC's choice on desktop. With libopus 1.3.1 on
	// speech it costs what 10 costs (about 0.45 ms per 20 ms frame on a
	// 2-core machine, twice complexity 5), a small fraction of a real-time
	// budget.
	defaultComplexity = 9
)

// EncoderConfig configures an Encoder; the zero value is the default.
type EncoderConfig struct {
	// Bitrate is the target bit rate in bits/s, 6000..510000; 0 means 32000.
	Bitrate int
	// Complexity trades CPU for quality, 1..10; 0 means 9 (WebRTC's desktop
	// setting). libopus's own 0 (least CPU) is not reachable: use 1.
	Complexity int
	// FEC turns on in-band forward error correction: each packet carries a
	// coarse copy of the previous frame (RFC 6716 §2.1.7). libopus only
	// emits it while PacketLossPercent > 0.
	FEC bool
	// PacketLossPercent is the expected packet loss, 0..100; higher values
	// make FEC stronger at the expense of the primary encoding.
	PacketLossPercent int
	// DTX turns on discontinuous transmission: in silence the encoder
	// emits a packet of at most 2 bytes (a TOC alone, no audio) about every
	// 400 ms and packets of that size may be skipped (RFC 7587 §3.1.3).
	DTX bool
}

func (c EncoderConfig) withDefaults() EncoderConfig {
	if c.Bitrate == 0 {
		c.Bitrate = defaultBitrate
	}
	if c.Complexity == 0 {
		c.Complexity = defaultComplexity
	}
	return c
}

func (c EncoderConfig) validate() error {
	switch {
	case c.Bitrate < 6000 || c.Bitrate > 510000:
		return fmt.Errorf("bitrate %d bit/s is outside 6000..510000", c.Bitrate)
	case c.Complexity < 1 || c.Complexity > 10:
		return fmt.Errorf("complexity %d is outside 1..10", c.Complexity)
	case c.PacketLossPercent < 0 || c.PacketLossPercent > 100:
		return fmt.Errorf("packet loss %d%% is outside 0..100", c.PacketLossPercent)
	}
	return nil
}

// Encoder encodes 48 kHz mono PCM to Opus with libopus, tuned for voice
// (OPUS_APPLICATION_VOIP). It is not safe for concurrent use.
type Encoder struct {
	enc *opus.Encoder
}

// NewEncoder returns an Encoder configured by cfg.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("media: opus encoder: %w", err)
	}
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("media: opus encoder: %w", err)
	}
	e := &Encoder{enc: enc}
	for _, set := range []struct {
		what string
		err  error
	}{
		{"bitrate", enc.SetBitrate(cfg.Bitrate)},
		{"complexity", enc.SetComplexity(cfg.Complexity)},
		{"FEC", enc.SetInBandFEC(cfg.FEC)},
		{"packet loss", enc.SetPacketLossPerc(cfg.PacketLossPercent)},
		{"DTX", enc.SetDTX(cfg.DTX)},
	} {
		if set.err != nil {
			return nil, fmt.Errorf("media: opus encoder: set %s: %w", set.what, set.err)
		}
	}
	return e, nil
}

// Encode encodes one frame of pcm (2.5, 5, 10, 20, 40 or 60 ms) into out and
// returns the packet's length. An out of MaxOpusPacket bytes always suffices.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if !encodableSamples(len(pcm)) {
		return 0, fmt.Errorf("media: opus encode %d samples: a frame must be 2.5, 5, 10, 20, 40 or 60 ms", len(pcm))
	}
	// The binding takes the buffers' capacities as their sizes.
	size := min(len(out), MaxOpusPacket)
	n, err := e.enc.Encode(pcm[:len(pcm):len(pcm)], out[:size:size])
	if err != nil {
		return 0, fmt.Errorf("media: opus encode: %w", err)
	}
	return n, nil
}

// SetBitrate changes the target bit rate (bits/s, 6000..510000).
func (e *Encoder) SetBitrate(bps int) error {
	if bps < 6000 || bps > 510000 {
		return fmt.Errorf("media: opus: bitrate %d bit/s is outside 6000..510000", bps)
	}
	if err := e.enc.SetBitrate(bps); err != nil {
		return fmt.Errorf("media: opus: set bitrate: %w", err)
	}
	return nil
}

// SetComplexity changes the complexity (1..10).
func (e *Encoder) SetComplexity(c int) error {
	if c < 1 || c > 10 {
		return fmt.Errorf("media: opus: complexity %d is outside 1..10", c)
	}
	if err := e.enc.SetComplexity(c); err != nil {
		return fmt.Errorf("media: opus: set complexity: %w", err)
	}
	return nil
}

// SetPacketLossPercent changes the expected packet loss (0..100), which
// sets how strong in-band FEC is and whether libopus emits it at all.
func (e *Encoder) SetPacketLossPercent(p int) error {
	if p < 0 || p > 100 {
		return fmt.Errorf("media: opus: packet loss %d%% is outside 0..100", p)
	}
	if err := e.enc.SetPacketLossPerc(p); err != nil {
		return fmt.Errorf("media: opus: set packet loss: %w", err)
	}
	return nil
}

// SetFEC turns in-band FEC on or off.
func (e *Encoder) SetFEC(on bool) error {
	if err := e.enc.SetInBandFEC(on); err != nil {
		return fmt.Errorf("media: opus: set FEC: %w", err)
	}
	return nil
}

// Decoder decodes Opus to 48 kHz mono PCM with libopus, and conceals lost
// packets. It is not safe for concurrent use.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder returns a Decoder.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("media: opus decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// Decode decodes packet into pcm and returns the number of samples decoded.
// pcm must be long enough for the packet (MaxPacketSamples always is).
func (d *Decoder) Decode(packet []byte, pcm []int16) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("media: opus decode: empty packet (use Conceal for a lost one)")
	}
	n, err := d.dec.Decode(packet, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, fmt.Errorf("media: opus decode %d-byte packet: %w", len(packet), err)
	}
	return n, nil
}

// Conceal fills pcm with the decoder's best guess of one lost frame of
// len(pcm) samples (a multiple of 2.5 ms), continuing the audio decoded so
// far (packet loss concealment).
func (d *Decoder) Conceal(pcm []int16) error {
	if !concealableSamples(len(pcm)) {
		return fmt.Errorf("media: opus conceal %d samples: want a multiple of 2.5 ms up to 120 ms", len(pcm))
	}
	if err := d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]); err != nil {
		return fmt.Errorf("media: opus conceal: %w", err)
	}
	return nil
}

// DecodeFEC recovers the lost frame before next, len(pcm) samples long, from
// the FEC data in next, the packet that followed it; Decode next itself
// afterwards. Without FEC data in next it conceals, as Conceal does.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	if len(next) == 0 {
		return fmt.Errorf("media: opus FEC decode: empty packet")
	}
	if !concealableSamples(len(pcm)) {
		return fmt.Errorf("media: opus FEC decode %d samples: want a multiple of 2.5 ms up to 120 ms", len(pcm))
	}
	if err := d.dec.DecodeFEC(next, pcm[:len(pcm):len(pcm)]); err != nil {
		return fmt.Errorf("media: opus FEC decode: %w", err)
	}
	return nil
}

// opusQuantum is the granularity of Opus frame sizes: 2.5 ms.
const opusQuantum = SampleRate / 400

// encodableSamples reports whether n samples make a frame libopus encodes:
// 2.5, 5, 10, 20, 40 or 60 ms.
func encodableSamples(n int) bool {
	if n <= 0 || n%opusQuantum != 0 {
		return false
	}
	switch n / opusQuantum {
	case 1, 2, 4, 8, 16, 24:
		return true
	}
	return false
}

// concealableSamples reports whether libopus can conceal or FEC-decode n
// samples: a multiple of 2.5 ms up to MaxPacketSamples.
func concealableSamples(n int) bool {
	return n > 0 && n%opusQuantum == 0 && n <= MaxPacketSamples
}
