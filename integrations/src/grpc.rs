//! A tonic client over towline's transport.
