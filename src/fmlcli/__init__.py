"""`fml`: the command line of fargate-ml (`fmlcli.main:main`).

It does what a user of the platform does by hand (drop a file into a bucket with its options as
metadata, then read the job's status record; call the trainer's model routes) so that a job
can be submitted and followed to its result in one command, locally against the emulator or on
AWS. It imports only the Lambda-safe layers of fmlcore (`core`, `jobs`): the job id, the job
options and the settings are the platform's own, so the CLI can never disagree with them.
"""
