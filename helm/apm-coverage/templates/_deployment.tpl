{{/*
One service's Deployment. Called with a dict:
  root       the top-level context ($)
  component  collector | analyzer | gateway | ddsim
  svc        the service's values (.Values.<component>)
  binary     the executable in the image (apmcov-<component>)
  replicas   replica count
  hpa        true when an HPA owns the replica count (replicas is then not rendered)
  ports      list of (dict "name" "http" "port" 8080) besides the admin port (.svc.adminPort)
  secrets    keys of .Values.secretKeys the service reads from the Secret
  env        extra (dict NAME value) for this container, applied after the ConfigMap
  args       arguments after the binary (optional)
*/}}
{{/* Unified service tagging labels: (dict "root" $ "binary" "apmcov-collector"). */}}
{{- define "apm-coverage.ddTags" -}}
tags.datadoghq.com/service: {{ .binary | quote }}
tags.datadoghq.com/env: {{ .root.Values.config.env | quote }}
tags.datadoghq.com/version: {{ default .root.Chart.AppVersion .root.Values.image.tag | quote }}
{{- end -}}

{{- define "apm-coverage.deployment" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "apm-coverage.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "apm-coverage.componentLabels" $ctx | nindent 4 }}
    {{- include "apm-coverage.ddTags" (dict "root" $root "binary" .binary) | nindent 4 }}
spec:
  {{- if not .hpa }}
  replicas: {{ int .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "apm-coverage.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "apm-coverage.selectorLabels" $ctx | nindent 8 }}
        {{- include "apm-coverage.ddTags" (dict "root" $root "binary" .binary) | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "apm-coverage.podAnnotations" (dict "root" $root "svc" .svc) | nindent 8 }}
    spec:
      {{- include "apm-coverage.podSpecCommon" (dict "root" $root "svc" .svc "secrets" .secrets) | nindent 6 }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ .component }}
          image: {{ include "apm-coverage.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ .binary | quote }}]
          {{- with .args }}
          args:
            {{- range . }}
            - {{ . | quote }}
            {{- end }}
          {{- end }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ int .port }}
              protocol: TCP
            {{- end }}
            - name: admin
              containerPort: {{ int .svc.adminPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "apm-coverage.configMapName" $root }}
          env:
            - name: DD_SERVICE
              value: {{ .binary | quote }}
            - name: ADMIN_PORT
              value: {{ int .svc.adminPort | quote }}
            {{- if ne .component "ddsim" }}
            # The node's Datadog Agent (traces on 8126, DogStatsD on 8125), as Datadog documents.
            - name: DD_AGENT_HOST
              valueFrom:
                fieldRef:
                  fieldPath: status.hostIP
            {{- end }}
            {{- range $name, $value := .env }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
            {{- range $name, $value := .svc.extraEnv }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
            {{- with .secrets }}
            {{- include "apm-coverage.secretEnv" (dict "root" $root "keys" .) | trim | nindent 12 }}
            {{- end }}
          {{- include "apm-coverage.probes" $root | nindent 10 }}
          resources:
            {{- toYaml .svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and $root.Values.secretsAsFiles .secrets }}
            - name: secrets
              mountPath: /var/run/secrets/apmcov
              readOnly: true
            {{- end }}
{{- end -}}
