"""The trainer: phases, evaluation cadence, logging, checkpoint/resume."""

from seamrl.train.trainer import Phase, Trainer, load_run_config, load_trainer, resume, schedule, train

__all__ = ["Phase", "Trainer", "load_run_config", "load_trainer", "resume", "schedule", "train"]
