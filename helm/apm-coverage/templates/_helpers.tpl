{{/*
Helpers shared by every template. Keep to the Go-template subset that tests/helm/render.py
implements (see tests/helm/README.md): no tpl, lookup or .Capabilities.
*/}}

{{/* Chart name, 63 characters at most. */}}
{{- define "apm-coverage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix of every object: <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "apm-coverage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "apm-coverage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "apm-coverage.labels" -}}
helm.sh/chart: {{ include "apm-coverage.chart" . }}
app.kubernetes.io/name: {{ include "apm-coverage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: apm-coverage
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Per-component helpers take a dict: (dict "root" $ "component" "collector").
*/}}
{{/* <fullname>-<component>: the prefix is shortened, never the suffix, so names stay distinct. */}}
{{- define "apm-coverage.componentName" -}}
{{- $prefix := include "apm-coverage.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix .component -}}
{{- end -}}

{{- define "apm-coverage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apm-coverage.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "apm-coverage.componentLabels" -}}
{{ include "apm-coverage.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "apm-coverage.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "apm-coverage.configMapName" -}}
{{- include "apm-coverage.componentName" (dict "root" . "component" "config") -}}
{{- end -}}

{{- define "apm-coverage.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "apm-coverage.componentName" (dict "root" . "component" "secrets") -}}
{{- end -}}
{{- end -}}

{{/* In-cluster URL of the simulator, when the collector should use it. */}}
{{- define "apm-coverage.ddApiBaseUrl" -}}
{{- if .Values.datadog.apiBaseUrl -}}
{{- .Values.datadog.apiBaseUrl -}}
{{- else if .Values.ddsim.enabled -}}
{{- printf "http://%s:%d" (include "apm-coverage.componentName" (dict "root" . "component" "ddsim")) (int .Values.ddsim.httpPort) -}}
{{- end -}}
{{- end -}}

{{/*
Checks the schema cannot express (relations between values); rendered by every template that
needs them, so `helm template` and `helm install` stop with the reason.
*/}}
{{- define "apm-coverage.validate" -}}
{{- $_ := required "kafka.brokers is required: the bootstrap servers of your Kafka cluster, host:port[,host:port...]" .Values.kafka.brokers -}}
{{- if not .Values.existingSecret -}}
{{- $_ := required "postgres.url is required (or set existingSecret to a Secret holding DATABASE_URL)" .Values.postgres.url -}}
{{- if not .Values.ddsim.enabled -}}
{{- $_ := required "datadog.apiKey is required (or set existingSecret, or ddsim.enabled=true for the demo)" .Values.datadog.apiKey -}}
{{- $_ := required "datadog.appKey is required (or set existingSecret, or ddsim.enabled=true for the demo)" .Values.datadog.appKey -}}
{{- end -}}
{{- end -}}
{{- $partitions := int .Values.kafka.partitions -}}
{{- if gt (int .Values.analyzer.replicaCount) $partitions -}}
{{- fail (printf "analyzer.replicaCount (%d) exceeds kafka.partitions (%d): extra consumers would sit idle" (int .Values.analyzer.replicaCount) $partitions) -}}
{{- end -}}
{{- if .Values.analyzer.autoscaling.enabled -}}
{{- if gt (int .Values.analyzer.autoscaling.maxReplicas) $partitions -}}
{{- fail (printf "analyzer.autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): extra consumers would sit idle" (int .Values.analyzer.autoscaling.maxReplicas) $partitions) -}}
{{- end -}}
{{- if gt (int .Values.analyzer.autoscaling.minReplicas) (int .Values.analyzer.autoscaling.maxReplicas) -}}
{{- fail (printf "analyzer.autoscaling.minReplicas (%d) exceeds analyzer.autoscaling.maxReplicas (%d)" (int .Values.analyzer.autoscaling.minReplicas) (int .Values.analyzer.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod-level fields shared by every workload: (dict "root" $ "svc" .Values.collector). */}}
{{- define "apm-coverage.podSpecCommon" -}}
{{- $root := .root -}}
automountServiceAccountToken: false
{{- with $root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with (default $root.Values.nodeSelector .svc.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $root.Values.tolerations .svc.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $root.Values.affinity .svc.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ $root.Values.tmpSizeLimit }}
{{- if and $root.Values.secretsAsFiles .secrets }}
  - name: secrets
    secret:
      secretName: {{ include "apm-coverage.secretName" $root }}
      defaultMode: 288
{{- end }}
{{- end -}}

{{/* Environment entries taken from the Secret. (dict "root" $ "keys" (list "databaseUrl" ...)).
With secretsAsFiles: NAME_FILE entries naming the files of the mounted Secret instead. */}}
{{- define "apm-coverage.secretEnv" -}}
{{- $root := .root -}}
{{- range .keys }}
{{- $var := index (dict "ddApiKey" "DD_API_KEY" "ddAppKey" "DD_APP_KEY" "databaseUrl" "DATABASE_URL" "gatewayApiToken" "GATEWAY_API_TOKEN") . }}
{{- $key := index $root.Values.secretKeys . }}
{{- if $root.Values.secretsAsFiles }}
{{- /* The optional token has a file only when the Secret holds it. */ -}}
{{- if or (ne . "gatewayApiToken") (and $key (or $root.Values.existingSecret $root.Values.gateway.apiToken)) }}
- name: {{ $var }}_FILE
  value: {{ printf "/var/run/secrets/apmcov/%s" $key | quote }}
{{- end }}
{{- else }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ include "apm-coverage.secretName" $root }}
      key: {{ $key }}
      {{- if eq . "gatewayApiToken" }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The container's probes on the admin port. */}}
{{- define "apm-coverage.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end -}}

{{/* Pod annotations: global, per service, and the config checksum that rolls pods on change. */}}
{{- define "apm-coverage.podAnnotations" -}}
checksum/config: {{ include "apm-coverage.configData" .root | sha256sum }}
{{- if not .root.Values.existingSecret }}
checksum/secret: {{ include "apm-coverage.secretData" .root | sha256sum }}
{{- end }}
{{- with .root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- with .svc.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
