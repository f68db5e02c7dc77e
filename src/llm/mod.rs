//! LLM serving, token by token: requests with prompt and output lengths, replicas that step
//! as vLLM's v1 scheduler does, and the step-time models they run on.
pub mod params;
pub mod profile;
pub mod replica;
pub mod step;
