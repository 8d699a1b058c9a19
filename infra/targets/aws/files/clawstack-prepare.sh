#!/bin/bash
# Before any container starts: data volume, Elastic IP, secrets, volume directories, docker
# network, images.
set -euo pipefail
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
id=$(imds instance-id)
if [ -n "${DATA_VOLUME_ID:-}" ]; then
  # The volume outlives instances; wait until the previous holder has released it.
  for i in $(seq 1 60); do
    holder=$(aws ec2 describe-volumes --region "$AWS_REGION" --volume-ids "$DATA_VOLUME_ID" --query 'Volumes[0].Attachments[0].InstanceId' --output text)
    [ "$holder" = "$id" ] && break
    aws ec2 attach-volume --region "$AWS_REGION" --volume-id "$DATA_VOLUME_ID" --instance-id "$id" --device /dev/sdf >/dev/null 2>&1 || true
    sleep 5
  done
  dev=""
  for i in $(seq 1 60); do
    dev=$(ls /dev/disk/by-id/*"${DATA_VOLUME_ID/-/}" 2>/dev/null | head -n1 || true)
    [ -n "$dev" ] && break
    sleep 2
  done
  [ -n "$dev" ] || { echo "data volume $DATA_VOLUME_ID did not appear" >&2; exit 1; }
  blkid "$dev" >/dev/null || mkfs.xfs "$dev"
  mkdir -p /var/lib/clawstack
  mountpoint -q /var/lib/clawstack || mount -o noatime "$dev" /var/lib/clawstack
fi
if [ -n "${EIP_ALLOCATION_ID:-}" ]; then
  aws ec2 associate-address --region "$AWS_REGION" --allocation-id "$EIP_ALLOCATION_ID" --instance-id "$id" --allow-reassociation >/dev/null
fi
/usr/local/bin/clawstack-secrets
# Host directories of persistent volumes, owned by the user each container runs as.
while read -r dir uid; do
  [ -n "$dir" ] || continue
  install -d -m 0700 -o "$uid" -g "$uid" "$dir"
  chown "$uid:$uid" "$dir"
done < /etc/clawstack/volumes
docker network inspect clawstack >/dev/null 2>&1 || docker network create clawstack >/dev/null
while read -r image; do
  [ -n "$image" ] || continue
  for i in 1 2 3 4 5; do docker pull -q "$image" && break; sleep 10; done
done < /etc/clawstack/images
