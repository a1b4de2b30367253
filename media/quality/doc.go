// Package quality measures how well received audio carries the speech that
// was sent: end-to-end tests and benchmarks record what one peer hears and
// compare it with what the other peer said.
//
// # Alignment
//
// A real call delays the audio by tens to hundreds of milliseconds. Align
// first cross-correlates the two signals' log-energy envelopes (20 ms
// windows every 4 ms, each clipped 50 dB below its loudest frame and
// mean-removed), which survives codec, noise and concealment, and then
// refines the best envelope lag at sample level: the peak of the waveform
// cross-correlation within one envelope step either side (found on copies
// decimated by four, then at full rate around that peak).
//
// # Envelope correlation
//
// Compare then measures whether the degraded signal follows the
// reference's spectro-temporal envelope. Both signals are cut into 20 ms
// Hann-windowed frames every 10 ms and each frame's power spectrum is summed
// into 20 bands evenly spaced on the mel scale from 100 Hz to 8 kHz (or
// 45 % of the sample rate, if lower). Only the frames where the reference
// is speech count: those within 35 dB of its loudest frame, so leading and
// trailing silence neither inflates nor deflates the score. Each band's log
// energy is clipped 40 dB below its peak over those frames (differences far
// below the speech in a band are inaudible and would otherwise dominate) and
// its mean over the frames is removed, so that only how the band rises and
// falls in time counts, not the spectral tilt every voice shares. The
// Correlation is the Pearson correlation of the two resulting frames×bands
// matrices, pooled over bands so that bands where speech moves a lot weigh
// more than near-constant ones.
//
// The same speech through a codec, moderate noise and a few concealed
// frames scores above 0.8; different speech, noise and silence score near
// zero (see the tests for measured values).
//
// # STOI and segmental SNR
//
// On the same alignment Compare computes STOI (Taal et al., 2011, as their
// reference code does: 10 kHz, 256-sample Hann frames at 50 % overlap, frames
// more than 40 dB below the reference's loudest removed from both signals,
// 15 one-third octave bands from 150 Hz, 384 ms segments, the degraded
// envelope normalised and clipped at β = -15 dB, the mean band-segment
// correlation) and the segmental SNR (20 ms speech frames, each limited to
// [-10, 35] dB). A jitter buffer moves its delay during a call (it drops
// or inserts frames), so for these two the degraded signal is re-cut block
// by block: each 500 ms of the reference at its own best waveform lag
// within ±100 ms of the global one. STOI predicts intelligibility and tolerates what a codec
// does to the waveform; the segmental SNR does not, and suits comparing
// waveform-preserving paths (a jitter buffer, a network) more than codecs.
package quality
