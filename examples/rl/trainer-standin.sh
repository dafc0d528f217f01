#!/bin/sh
# A STAND-IN for an RL trainer, for the demo and the tests of
# `swelake rl iterate`: it trains nothing. A real trainer command (verl,
# OpenRLHF, SkyRL) reads the batch, updates the policy, saves and serves
# the new checkpoint, and prints its model name last; this script checks
# that it was handed a batch and a samples file, and prints the name of the
# "next" checkpoint: <base>-ckpt-<iteration>, which the scripted policy
# (swelake policy serve --scripted) answers as a policy trained that many
# steps (it solves more tasks at later checkpoints).
#
#   trainer-standin.sh --batch {batch} --samples {samples} --checkpoint {checkpoint} \
#       --iteration {iteration} --loop {loop_id} [--pause-once <file> --pause-at <n>]
#
# --pause-once/--pause-at are for the resume test: at iteration n, the
# first time (when <file> does not exist), it writes its pid to <file> and
# sleeps, to be killed there.
set -eu
batch= samples= ckpt= iter= loop= pause_file= pause_at=
while [ $# -gt 0 ]; do
	case $1 in
	--batch) batch=$2 ;;
	--samples) samples=$2 ;;
	--checkpoint) ckpt=$2 ;;
	--iteration) iter=$2 ;;
	--loop) loop=$2 ;;
	--pause-once) pause_file=$2 ;;
	--pause-at) pause_at=$2 ;;
	*) echo "trainer-standin: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
for f in "$batch" "$samples"; do
	if [ ! -s "$f" ]; then
		echo "trainer-standin: no batch file at '$f'" >&2
		exit 1
	fi
done
echo "trainer-standin: iteration $iter of $loop from $ckpt: batch $(wc -c <"$batch") bytes, samples $(wc -c <"$samples") bytes"
if [ -n "$pause_file" ] && [ "$iter" = "$pause_at" ] && [ ! -e "$pause_file" ]; then
	echo "trainer-standin: pausing (to be killed)"
	echo $$ >"$pause_file"
	exec sleep 300
fi
case $ckpt in
*-ckpt-*) base=${ckpt%%-ckpt-*} ;;
*) base=$ckpt-$(printf '%s' "${loop#rl-loop-}" | cut -c1-6) ;;
esac
echo "$base-ckpt-$iter"
