//! One module per subcommand: each wires the pipeline's stages together and reports.

pub mod run;
