#include "apm.h"

#include <string.h>

#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

namespace {
const int kRate = 48000;
const int kChunk = kRate / 100;
}  // namespace

struct parley_apm {
  webrtc::AudioProcessing *apm;
  webrtc::AudioFrame frame;
};

extern "C" {

parley_apm *parley_apm_new(int aec, int ns, int agc) {
  webrtc::Config config;
  // The delay-agnostic AEC finds the echo's delay on its own; the extended
  // filter covers a room's tail.
  config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
  config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
  // The experimental AGC steers an analog microphone volume Parley does
  // not control; the digital AGC below does the job instead.
  config.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
  parley_apm *a = new parley_apm;
  a->apm = webrtc::AudioProcessing::Create(config);
  if (a->apm == NULL) {
    delete a;
    return NULL;
  }
  webrtc::ProcessingConfig pc = {{
      webrtc::StreamConfig(kRate, 1), webrtc::StreamConfig(kRate, 1),
      webrtc::StreamConfig(kRate, 1), webrtc::StreamConfig(kRate, 1),
  }};
  if (a->apm->Initialize(pc) != 0) {
    parley_apm_free(a);
    return NULL;
  }
  a->apm->high_pass_filter()->Enable(true);
  // Low suppression: a linear filter before this one has removed most of
  // the echo, and stronger suppression clips the near end in double talk.
  a->apm->echo_cancellation()->set_suppression_level(
      webrtc::EchoCancellation::kLowSuppression);
  a->apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
  a->apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
  a->apm->gain_control()->set_target_level_dbfs(3);
  a->apm->gain_control()->set_compression_gain_db(9);
  a->apm->gain_control()->enable_limiter(true);
  a->apm->voice_detection()->set_likelihood(
      webrtc::VoiceDetection::kModerateLikelihood);
  a->apm->voice_detection()->Enable(true);
  if (parley_apm_set(a, aec, ns, agc) != 0) {
    parley_apm_free(a);
    return NULL;
  }
  a->frame.sample_rate_hz_ = kRate;
  a->frame.num_channels_ = 1;
  a->frame.samples_per_channel_ = kChunk;
  return a;
}

int parley_apm_set(parley_apm *a, int aec, int ns, int agc) {
  int err = a->apm->echo_cancellation()->Enable(aec != 0);
  if (err == 0) err = a->apm->noise_suppression()->Enable(ns != 0);
  if (err == 0) err = a->apm->gain_control()->Enable(agc != 0);
  return err;
}

void parley_apm_free(parley_apm *a) {
  delete a->apm;
  delete a;
}

int parley_apm_render(parley_apm *a, const int16_t *pcm) {
  memcpy(a->frame.data_, pcm, kChunk * sizeof(int16_t));
  a->frame.samples_per_channel_ = kChunk;
  return a->apm->ProcessReverseStream(&a->frame);
}

int parley_apm_capture(parley_apm *a, int16_t *pcm, int *voice) {
  memcpy(a->frame.data_, pcm, kChunk * sizeof(int16_t));
  a->frame.samples_per_channel_ = kChunk;
  if (a->apm->echo_cancellation()->is_enabled()) {
    // The caller hands over the far end already aligned with the capture,
    // so the delay left is the acoustic path's, which the delay-agnostic
    // AEC finds on its own.
    a->apm->set_stream_delay_ms(0);
  }
  int err = a->apm->ProcessStream(&a->frame);
  if (err != 0) return err;
  memcpy(pcm, a->frame.data_, kChunk * sizeof(int16_t));
  *voice = a->apm->voice_detection()->stream_has_voice() ? 1 : 0;
  return 0;
}

}  // extern "C"
