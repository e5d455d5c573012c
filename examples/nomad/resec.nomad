# A highly available Redis on Nomad: three allocations, each a Redis server
# and the resec agent that manages it, on three different hosts. resec
# registers the services clients use (redis-master / redis-slave) in Consul;
# Nomad registers only the agents' state servers, whose /health gates
# deployments (a replica still syncing is not healthy yet).
#
#   nomad var put nomad/jobs/redis consul_token=<token with the resec policy>
#   nomad job run examples/nomad/resec.nomad
#
# The Consul ACL policy the token needs:
#   key_prefix "resec/" { policy = "write" }
#   session_prefix ""   { policy = "write" }
#   service_prefix ""   { policy = "write" }

variable "resec_image" {
  type    = string
  default = "resec:latest" # built from the repository's Dockerfile
}

job "redis" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "5m"
  }

  group "redis" {
    count = 3

    # One member per host: losing a host costs one member, never the group.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "redis" {
        static = 6379
      }
      port "state" {}
    }

    # Only the state server: resec itself registers Redis in Consul.
    service {
      name = "resec"
      port = "state"

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image        = "redis:7"
        network_mode = "host"
        args         = ["--port", "${NOMAD_PORT_redis}", "--bind", "${NOMAD_IP_redis}", "--protected-mode", "no"]
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }

    task "resec" {
      driver = "docker"

      config {
        image        = var.resec_image
        network_mode = "host"
      }

      # The leader is stopped first: on SIGTERM the agent releases the lock
      # and deregisters while its Redis still runs, so another member takes
      # over at once; and if the agent exits, Nomad restarts the whole pair.
      leader       = true
      kill_timeout = "15s"
      kill_signal  = "SIGTERM"

      env {
        REDIS_ADDR            = "${NOMAD_ADDR_redis}"
        ANNOUNCE_ADDR         = "${NOMAD_ADDR_redis}"
        CONSUL_HTTP_ADDR      = "${attr.unique.network.ip-address}:8500"
        CONSUL_LOCK_KEY       = "resec/${NOMAD_JOB_NAME}/.lock"
        CONSUL_SERVICE_PREFIX = "${NOMAD_JOB_NAME}"
        HEALTHCHECK_INTERVAL  = "5s"
        HEALTHCHECK_TIMEOUT   = "2s"
        STATE_SERVER          = "true"
        STATE_LISTEN_ADDR     = "${NOMAD_ADDR_state}"
        LOG_FORMAT            = "json"
      }

      # The Consul token from Nomad variables, never in the job file.
      template {
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/redis" }}CONSUL_HTTP_TOKEN={{ .consul_token }}{{ end }}
        EOT
        destination = "secrets/resec.env"
        env         = true
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
